"""Judges of the resilience exercises (notebook 03): retries vs faults, a timeout budget, outlier detection."""

from __future__ import annotations

from typing import Any

from meshsim.exercise.evidence import (
    Evidence,
    Finding,
    bad,
    duration_s,
    fault_at_destination,
    good,
    percent,
    routes_for,
    short_host,
)
from meshsim.exercise.judges import order_product_errors

# ---------------------------------------------------------- 3 retries vs faults


def _abort(ev: Evidence, phase: str) -> tuple[dict[str, Any], float] | None:
    for vs in ev.resources(phase, "VirtualService"):
        for rule in routes_for(vs, "product"):
            abort = (rule.get("fault") or {}).get("abort") or {}
            if int(abort.get("httpStatus") or 0) >= 500:
                return vs, percent(abort.get("percentage"))
    return None


def retries_written(ev: Evidence, phase: str) -> list[Finding]:
    found = _abort(ev, phase)
    if found is None:
        return [
            bad(
                "the abort is gone: the task keeps 20 % of product's calls failing with a 5xx "
                "(a flaky product); make the orders survive it instead"
            )
        ]
    if found[1] < 20:
        return [bad(f"the abort now fails {found[1]:g} % of the calls; the task keeps 20 %")]
    return [good(f"the abort still fails {found[1]:g} % of the calls to product")]


def retries_observed(ev: Evidence, phase: str) -> list[Finding]:
    e = ev.edge(phase, "order", "product")
    out = [order_product_errors(ev, phase, 0.02)]
    found = _abort(ev, phase)
    at_destination = found is not None and fault_at_destination(found[0])
    if e.get("retries", 0) > 0:
        out.append(
            good(f"order's sidecar retried {e['retries']} aborted calls: the fault is absorbed")
        )
    elif not at_destination:
        out.append(
            bad(
                "retries stayed 0: a VirtualService fault is injected in the caller's sidecar "
                "(order's), before its retry policy, so no retry ever sees the 503 (Istio issue "
                "13705). Put the fault where a failing product would fail, in product's own "
                "sidecar: annotation meshsim.io/fault-at: destination"
            )
        )
    else:
        out.append(bad("retries stayed 0: is a retry policy for 5xx in force (attempts > 0)?"))
    return out


# ------------------------------------------------------------ 4 timeout budget


def timeout_written(ev: Evidence, phase: str) -> list[Finding]:
    out: list[Finding] = []
    delay, timeout = None, None
    for vs in ev.resources(phase, "VirtualService"):
        for rule in routes_for(vs, "product"):
            d = (rule.get("fault") or {}).get("delay") or {}
            if d:
                delay = (vs, duration_s(d.get("fixedDelay")) or 0.0, percent(d.get("percentage")))
            t = duration_s(rule.get("timeout"))
            per_try = duration_s((rule.get("retries") or {}).get("perTryTimeout"))
            timeout = min((x for x in (t, per_try) if x is not None), default=timeout)
    if delay is None or delay[1] < 0.5 or delay[2] < 50:
        out.append(bad("the delay is gone or smaller: product stays slow (500 ms for half)"))
    elif not fault_at_destination(delay[0]):
        out.append(
            bad(
                "the delay moved into order's sidecar, where it runs before the route's timeout "
                "starts (scenarios/fault-delay.yaml): keep it at the destination"
            )
        )
    else:
        out.append(good("product is still slow: 500 ms for half its answers, in its sidecar"))
    if timeout is None:
        out.append(bad("order's route to product has no timeout"))
    else:
        out.append(good(f"order gives product {timeout * 1000:g} ms"))
    return out


def timeout_observed(ev: Evidence, phase: str) -> list[Finding]:
    j = ev.journey(phase, "place_order")
    p99 = (j.get("latency_ms") or {}).get("p99")
    e = ev.edge(phase, "order", "product")
    out = []
    if p99 is None:
        out.append(bad(f"no place_order requests in phase {phase}"))
    elif p99 < 480:
        out.append(good(f"place_order p99 {p99:.0f} ms: within the 480 ms budget"))
    else:
        out.append(bad(f"place_order p99 {p99:.0f} ms: over the 480 ms budget"))
    if e.get("timeouts", 0) > 0:
        out.append(good(f"{e['timeouts']} slow calls were cut off by the timeout (504)"))
    else:
        out.append(bad("no call to product timed out: the slow answers were waited for"))
    return out


# ------------------------------------------------------- 5 outlier detection


def outlier_written(ev: Evidence, phase: str) -> list[Finding]:
    out = []
    kills = [a for a in ev.actions(phase) if str(a.get("kill", "")).startswith("product")]
    out.append(
        good("an instance of product is still killed")
        if kills
        else bad("the kill is gone: the task keeps a dead product instance")
    )
    attempts = None
    for vs in ev.resources(phase, "VirtualService"):
        for rule in routes_for(vs, "product"):
            if "retries" in rule:
                attempts = (rule.get("retries") or {}).get("attempts")
    if attempts != 0:
        out.append(
            bad(
                "retries are back on: they hide the dead instance but every call still tries "
                "it first; keep attempts: 0 and eject it instead"
            )
        )
    detection = [
        dr
        for dr in ev.resources(phase, "DestinationRule")
        if short_host((dr.get("spec") or {}).get("host")) == "product"
        and ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("outlierDetection")
    ]
    out.append(
        good("DestinationRule product has outlierDetection")
        if detection
        else bad("no DestinationRule for product has trafficPolicy.outlierDetection")
    )
    return out


def outlier_observed(ev: Evidence, phase: str) -> list[Finding]:
    ejections = sum(ev.edge(p, "order", "product").get("ejections", 0) for p in ev.phase_names())
    out = [order_product_errors(ev, phase, 0.01)]
    out.append(
        good(f"order's sidecar ejected the dead instance ({ejections} ejections)")
        if ejections
        else bad("no instance was ejected: the errors stopped for another reason, or never did")
    )
    return out
