"""Findings shared by the exercises' judges: error rates in words."""

from __future__ import annotations

from meshsim.exercise.evidence import Evidence, Finding, bad, good, pct, rate


def order_product_errors(ev: Evidence, phase: str, limit: float) -> Finding:
    e = ev.edge(phase, "order", "product")
    r = rate(e["errors"], e["requests"])
    if not e["requests"]:
        return bad(f"order sent product no calls in phase {phase}: is the load still there?")
    if r < limit:
        return good(f"{pct(r)} of order's {e['requests']} calls to product failed ({phase})")
    return bad(
        f"{pct(r)} of order's calls to product failed in phase {phase}; at most {pct(limit)}"
    )


def journey_errors(ev: Evidence, phase: str, journey: str, limit: float) -> Finding:
    j = ev.journey(phase, journey)
    if not j.get("requests"):
        return bad(f"no {journey} requests in phase {phase}: is the load still there?")
    r = float(j.get("error_rate") or 0.0)
    if r < limit:
        return good(f"{pct(r)} of {journey} requests failed ({phase})")
    return bad(f"{pct(r)} of {journey} requests failed in phase {phase}; at most {pct(limit)}")
