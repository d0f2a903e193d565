"""Retry amplification and timeout budgets along the declared call graph.

Each edge caller → callee carries the policy of the route the caller's proxy
uses for the callee (the ingress: the gateway routes sending to it; a
sidecar: the VirtualService or HTTPRoute for the callee's host, else Istio's
default of 2 retries). From them:

- attempts: 1 + retries. A single ingress request can cause, at a service,
  the product of the attempts along a path to it (each service calling each
  callee once per request): 6 attempts at the gateway and 6 between order
  and product make 36 at product. The worst path per service is reported.
- spend: how long a caller may wait on an edge: its route `timeout`, else
  attempts × `perTryTimeout`, else attempts × what the callee may spend on
  its own worst call, else unbounded. A caller timeout shorter than what the
  callee may spend cuts off work that goes on below it.

Worst cases over the routes of an edge: the figures are upper bounds, the
point being what a policy *allows*.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import networkx as nx

from meshsim.analyze.context import PhaseView
from meshsim.analyze.findings import Finding
from meshsim.control.traffic import ISTIO_DEFAULT_ATTEMPTS
from meshsim.scenario.istio import HTTPRoute, VirtualService, short_host
from meshsim.scenario.model import parse_duration
from meshsim.topology import INGRESS, declared_graph


@dataclass(frozen=True)
class Thresholds:
    """Attempts at one service caused by one ingress request: a warning above
    `warn`, an error above `error` (`meshsim analyze --max-attempts-warn/-error`)."""

    # Istio's default (2 retries, 3 attempts) on three hops is 27: the
    # defaults alone never warn; 6 attempts on two hops (36) do.
    warn: int = 27
    error: int = 100


@dataclass(frozen=True)
class EdgePolicy:
    attempts: int  # worst case over the routes of the edge
    timeout: float | None  # the shortest route timeout, None: none
    per_try: float | None
    resource: str  # what set it: "VirtualService/product", or "Istio's default"
    line: int | None = None


def _attempts(http: HTTPRoute) -> int:
    if http.retries is None:
        return 1 + ISTIO_DEFAULT_ATTEMPTS
    return 1 + max(http.retries.attempts, 0)


def _targets(http: HTTPRoute, services: dict[str, dict[str, int]]) -> set[str]:
    from meshsim.scenario.gateway_routes import version_service

    out = set()
    for d in http.route:
        host = short_host(d.destination.host)
        hit = version_service(host, services) if host not in services else None
        out.add(hit[0] if hit else host)
    return out


def _edge(routes: list[HTTPRoute], vs: VirtualService | None, view: PhaseView) -> EdgePolicy:
    from meshsim.scenario.gateway_routes import origin

    if vs is None or not routes:
        return EdgePolicy(1 + ISTIO_DEFAULT_ATTEMPTS, None, None, "Istio's default route")
    timeouts = [parse_duration(h.timeout) for h in routes if h.timeout]
    per_try = [
        parse_duration(h.retries.perTryTimeout)
        for h in routes
        if h.retries is not None and h.retries.perTryTimeout
    ]
    return EdgePolicy(
        attempts=max(_attempts(h) for h in routes),
        timeout=min((t for t in timeouts if t > 0), default=None),
        per_try=max(per_try, default=None),
        resource=origin(vs).split(",")[0],
        line=view.line_of(vs),
    )


def edge_policies(view: PhaseView) -> dict[tuple[str, str], EdgePolicy]:
    """The policy of every edge of the declared graph in this phase."""
    graph = declared_graph(view.services, view.state, view.plan.app)
    out: dict[tuple[str, str], EdgePolicy] = {}
    gateway_vss = view.state.gateway_virtual_services()
    for caller, callee in graph.edges:
        if caller == INGRESS:
            found = [
                (vs, [h for h in vs.spec.http if callee in _targets(h, view.services)])
                for vs in gateway_vss
            ]
            found = [(vs, hs) for vs, hs in found if hs]
            vs, hs = found[0] if found else (None, [])
        else:
            vs = view.state.mesh_virtual_service(callee)
            hs = list(vs.spec.http) if vs is not None else []
        out[(caller, callee)] = _edge(hs, vs, view)
    return out


def _seconds(value: float) -> str:
    return f"{value:g}s"


def amplification(
    view: PhaseView, policies: dict[tuple[str, str], EdgePolicy]
) -> dict[str, tuple[int, list[str]]]:
    """Per service, the worst-case attempts one ingress request causes there and the path."""
    graph = nx.DiGraph()
    graph.add_edges_from(policies)
    out: dict[str, tuple[int, list[str]]] = {}
    if INGRESS not in graph:
        return out
    for service in graph.nodes:
        if service == INGRESS:
            continue
        for path in nx.all_simple_paths(graph, INGRESS, service):
            n = prod(policies[(a, b)].attempts for a, b in zip(path, path[1:], strict=False))
            if service not in out or n > out[service][0]:
                out[service] = (n, list(path))
    return out


def amplification_findings(
    view: PhaseView,
    policies: dict[tuple[str, str], EdgePolicy],
    thresholds: Thresholds,
) -> list[Finding]:
    out: list[Finding] = []
    for service, (n, path) in sorted(amplification(view, policies).items()):
        if n <= thresholds.warn:
            continue
        hops = [policies[(a, b)] for a, b in zip(path, path[1:], strict=False)]
        chain = " × ".join(
            f"{p.attempts} ({a} → {b}, {p.resource})"
            for p, (a, b) in zip(hops, zip(path, path[1:], strict=False), strict=True)
        )
        worst = max(hops, key=lambda p: p.attempts)
        code = "MSA202" if n > thresholds.error else "MSA201"
        limit = thresholds.error if code == "MSA202" else thresholds.warn
        out.append(
            Finding(
                code,
                view.name,
                worst.resource,
                f"one ingress request can cause up to {n} attempts at {service}: {chain} "
                f"(over {limit}); retry at one hop, or bound the retries with a "
                "perTryTimeout and a route timeout",
                view.file,
                worst.line,
            )
        )
    return out


def spend(
    view_policies: dict[tuple[str, str], EdgePolicy], edge: tuple[str, str], seen: frozenset[str]
) -> float | None:
    """How long the caller may wait on `edge` (seconds), or None: unbounded."""
    p = view_policies[edge]
    if p.timeout is not None:
        return p.timeout
    if p.per_try is not None:
        return p.attempts * p.per_try
    inner = callee_spend(view_policies, edge[1], seen | {edge[0]})
    return p.attempts * inner if inner else None


def callee_spend(
    policies: dict[tuple[str, str], EdgePolicy], service: str, seen: frozenset[str]
) -> float | None:
    """The longest bounded wait of `service` on one of its own calls, None if none is bounded."""
    waits = [
        spend(policies, edge, seen)
        for edge in policies
        if edge[0] == service and edge[1] not in seen and edge[1] != service
    ]
    bounded = [w for w in waits if w is not None]
    return max(bounded, default=None)


def budget_findings(view: PhaseView, policies: dict[tuple[str, str], EdgePolicy]) -> list[Finding]:
    out: list[Finding] = []
    for (caller, callee), p in sorted(policies.items()):
        if p.timeout is not None and p.per_try is not None and p.attempts * p.per_try > p.timeout:
            fits = int(p.timeout // p.per_try)
            out.append(
                Finding(
                    "MSA203",
                    view.name,
                    p.resource,
                    f"{caller} → {callee}: {p.attempts} attempts × perTryTimeout "
                    f"{_seconds(p.per_try)} = {_seconds(p.attempts * p.per_try)} do not fit in "
                    f"the route timeout {_seconds(p.timeout)}: at most {fits} "
                    f"attempt{'s' if fits != 1 else ''} can finish",
                    view.file,
                    p.line,
                )
            )
        if p.timeout is None:
            continue
        inner = callee_spend(policies, callee, frozenset({caller}))
        if inner is not None and inner > p.timeout:
            out.append(
                Finding(
                    "MSA204",
                    view.name,
                    p.resource,
                    f"{caller} gives up on {callee} after {_seconds(p.timeout)}, while "
                    f"{callee} may spend up to {_seconds(inner)} on one of its own calls "
                    "(its retries × their timeouts): the work below goes on for nobody",
                    view.file,
                    p.line,
                )
            )
    return out
