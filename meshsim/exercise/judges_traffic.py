"""Judges of the traffic-management exercises (notebook 02): canary weights, header routing."""

from __future__ import annotations

from typing import Any

from meshsim.exercise.evidence import (
    Evidence,
    Finding,
    bad,
    good,
    pct,
    rate,
    routes_for,
    short_host,
)
from meshsim.exercise.judges import order_product_errors
from meshsim.scenario.model import resolve_mesh

# ------------------------------------------------------------ 1 canary weights


def _weight_of(routes: list[dict[str, Any]], subset: str) -> float | None:
    """The share (0..100) of the catch-all rule's traffic going to `subset`."""
    for rule in routes:
        if rule.get("match"):
            continue
        dests = [d for d in rule.get("route") or [] if isinstance(d, dict)]
        if not dests:
            return None
        weights = [float(d.get("weight", 100 if len(dests) == 1 else 0)) for d in dests]
        total = sum(weights) or 1.0
        return (
            100
            * sum(
                w
                for d, w in zip(dests, weights, strict=True)
                if (d.get("destination") or {}).get("subset") == subset
            )
            / total
        )
    return None


def _subsets_defined(ev: Evidence, phase: str) -> list[Finding]:
    for dr in ev.resources(phase, "DestinationRule"):
        spec = dr.get("spec") or {}
        if short_host(spec.get("host")) == "product":
            names = {s.get("name") for s in spec.get("subsets") or []}
            if {"v1", "v2"} <= names:
                return [good("DestinationRule product defines subsets v1 and v2")]
    return [bad("no DestinationRule for product defines subsets v1 and v2 in this phase")]


def canary_written(ev: Evidence, phase: str) -> list[Finding]:
    out = _subsets_defined(ev, phase)
    replicas = resolve_mesh(ev.scenario).get("product", {})
    if replicas != {"v1": 1, "v2": 1}:
        shown = ", ".join(f"{v} ×{n}" for v, n in sorted(replicas.items()))
        out.append(
            bad(
                f"product runs {shown}: a share from instance counts is round-robin luck, "
                "not a canary you can move; keep one instance of each and set VirtualService weights"
            )
        )
    weight = None
    for vs in ev.resources(phase, "VirtualService"):
        routes = routes_for(vs, "product")
        if routes:
            weight = _weight_of(routes, "v2")
    if weight is None:
        out.append(bad(f"no VirtualService routes order's calls to product by weight in {phase}"))
    elif abs(weight - 20) > 1:
        out.append(bad(f"VirtualService product sends {weight:g} % to subset v2; the task is 20 %"))
    else:
        out.append(good("VirtualService product sends 20 % of the calls to subset v2"))
    return out


def canary_observed(ev: Evidence, phase: str) -> list[Finding]:
    e = ev.edge(phase, "order", "product")
    share = rate(e["by_version"].get("v2", 0), e["requests"])
    out = [order_product_errors(ev, phase, 0.01)]
    if abs(share - 0.20) <= 0.08:
        out.append(good(f"v2 served {pct(share)} of order's calls to product"))
    else:
        out.append(bad(f"v2 served {pct(share)} of order's calls to product; expected about 20 %"))
    return out


# -------------------------------------------------------------- 2 header beta


def _header_rule(routes: list[dict[str, Any]]) -> tuple[bool, bool]:
    """(a rule matching end-user: beta-tester goes to v2, a later catch-all goes to v1)."""
    beta, rest = False, False
    for rule in routes:
        dests = {
            (d.get("destination") or {}).get("subset")
            for d in rule.get("route") or []
            if isinstance(d, dict)
        }
        matches = rule.get("match") or []
        if not matches:
            rest = beta and dests == {"v1"}
            break
        for m in matches:
            header = ((m or {}).get("headers") or {}).get("end-user") or {}
            if "beta-tester" in {str(v) for v in header.values()} and dests == {"v2"}:
                beta = True
    return beta, rest


def header_written(ev: Evidence, phase: str) -> list[Finding]:
    out = _subsets_defined(ev, phase)
    routes = [r for vs in ev.resources(phase, "VirtualService") for r in routes_for(vs, "product")]
    beta, rest = _header_rule(routes)
    weight = _weight_of(routes, "v2")
    if beta:
        out.append(good("a rule matching end-user: beta-tester sends those calls to v2"))
    elif weight:
        out.append(
            bad(
                f"a weight sends {weight:g} % of the calls to v2, picked at random: about as "
                "many calls as the beta testers send, but not theirs. Match the end-user header"
            )
        )
    else:
        out.append(bad("no VirtualService rule matches the end-user: beta-tester header"))
    if beta and not rest:
        out.append(bad("after the beta rule, a rule without match must send everyone else to v1"))
    elif rest:
        out.append(good("everyone else falls through to v1"))
    return out


def header_observed(ev: Evidence, phase: str) -> list[Finding]:
    out = [order_product_errors(ev, phase, 0.01)]
    served = ev.phase(phase).get("served") or {}
    beta = (ev.cohort(phase, "beta").get("served") or {}).get("product") or {}
    beta_v2, beta_all = beta.get("v2", 0), sum(beta.values())
    others_v2 = (served.get("product") or {}).get("v2", 0) - beta_v2
    others_all = sum((served.get("product") or {}).values()) - beta_all
    if not beta_all:
        out.append(bad("the beta cohort sent no orders: is load.cohorts still there?"))
    elif rate(beta_v2, beta_all) >= 0.9:
        out.append(good(f"v2 served {pct(rate(beta_v2, beta_all))} of the beta testers' orders"))
    else:
        out.append(
            bad(f"v2 served only {pct(rate(beta_v2, beta_all))} of the beta testers' orders")
        )
    if others_all and rate(others_v2, others_all) <= 0.02:
        out.append(good(f"v1 served {pct(1 - rate(others_v2, others_all))} of everyone else's"))
    elif others_all:
        out.append(bad(f"v2 also served {pct(rate(others_v2, others_all))} of everyone else's"))
    return out


# -------------------------------------------------------- 8 Gateway API canary


def _parent_kinds(route: dict[str, Any]) -> set[str]:
    """`service` for a Service parent named product (GAMMA), `gateway` otherwise."""
    kinds = set()
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if (ref or {}).get("kind") == "Service" and short_host(ref.get("name")) == "product":
            kinds.add("service")
        else:
            kinds.add("gateway")
    return kinds


def _backend_share(route: dict[str, Any], backend: str) -> float | None:
    for rule in (route.get("spec") or {}).get("rules") or []:
        if (rule or {}).get("matches"):
            continue
        refs = [r for r in rule.get("backendRefs") or [] if isinstance(r, dict)]
        weights = [float(r.get("weight", 1)) for r in refs]
        if refs and sum(weights):
            picked = sum(w for r, w in zip(refs, weights, strict=True) if r.get("name") == backend)
            return 100 * picked / sum(weights)
    return None


def gateway_written(ev: Evidence, phase: str) -> list[Finding]:
    out = []
    if any(routes_for(vs, "product") for vs in ev.resources(phase, "VirtualService")):
        out.append(
            bad(
                f"VirtualService product still routes product in phase {phase}: the task is to "
                "write the split as an HTTPRoute (a host takes one or the other, never both)"
            )
        )
    routes = ev.resources(phase, "HTTPRoute")
    mesh = [r for r in routes if "service" in _parent_kinds(r)]
    if not mesh:
        out.append(
            bad(
                "an HTTPRoute whose parent is the Gateway routes the ingress's calls, not order's: "
                'order\'s calls take a Service parent (GAMMA: kind: Service, name: product, group: "")'
                if routes
                else "no HTTPRoute routes order's calls to product (a parentRef to the Service product)"
            )
        )
        return out
    share = _backend_share(mesh[0], "product-v2")
    if share is None or abs(share - 20) > 1:
        shown = "none" if share is None else f"{share:g} %"
        out.append(
            bad(
                f"HTTPRoute {mesh[0]['metadata']['name']} gives product-v2 {shown}; the task is 20 %"
            )
        )
    else:
        out.append(good("an HTTPRoute on the Service product gives backend product-v2 20 %"))
    return out
