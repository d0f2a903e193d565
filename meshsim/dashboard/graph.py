"""The service graph at one moment: the declared graph with the edges'
traffic on it (`topology.service_graph`, as the report builds a phase's),
plus what the dashboard adds: instances down, mTLS and authorization."""

from __future__ import annotations

from typing import Any

from meshsim.control.plan import MeshPlan
from meshsim.dashboard.policies import PhasePolicies
from meshsim.topology import declared_graph, service_graph


def graph_at(
    plan: MeshPlan | None,
    edges: list[dict[str, Any]],
    policies: PhasePolicies | None,
    down: dict[str, int],
) -> dict[str, Any]:
    """`edges` as edges.json holds them (with `rq_4xx` when known); `down`:
    service → its instances killed or paused."""
    declared = declared_graph(
        list(plan.services) if plan and plan.services else None,
        app=plan.app if plan else None,
    )
    graph = service_graph(edges, declared).to_dict()
    rejected = {(e["source"], e["destination"]): int(e.get("rq_4xx") or 0) for e in edges}
    for node in graph["nodes"]:
        node["down"] = down.get(node["name"], 0)
    for edge in graph["edges"]:
        dest = edge["destination"]
        guarded = policies.authz.get(dest, 0) if policies is not None else 0
        edge["mtls"] = policies.mtls.get(dest) if policies is not None else None
        edge["authz_policies"] = guarded
        # what an AuthorizationPolicy refuses is answered 403 by the callee's
        # sidecar: the caller's 4xx, counted while a policy guards the callee
        edge["rbac_denied"] = rejected.get((edge["source"], dest), 0) if guarded else 0
    return graph


def edges_shown(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The graph's edges in the shape of the API (docs/observability.md)."""
    out = []
    for e in graph.get("edges", []):
        s, d = str(e["source"]), str(e["destination"])
        out.append(
            {
                "id": f"{s}->{d}",
                "source": s,
                "target": d,
                "requests": e.get("requests", 0),
                "errors": e.get("errors", 0),
                "rps": e.get("rps") or 0.0,
                "error_rate": e.get("error_rate") or 0.0,
                "p99_ms": e.get("p99_ms"),
                "health": e.get("health"),
                "declared": e.get("declared"),
                "mtls": e.get("mtls"),
                "authz_policies": e.get("authz_policies", 0),
                "rbac_denied": e.get("rbac_denied", 0),
            }
        )
    return out
