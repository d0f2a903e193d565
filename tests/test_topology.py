"""The service graph: declared, observed, compared, exported."""

from __future__ import annotations

import io
from pathlib import Path

import networkx as nx

from meshsim.control.state import PolicyState
from meshsim.scenario.istio import parse_resource
from meshsim.topology import (
    INGRESS,
    declared_graph,
    health,
    observed_graph,
    run_graphs,
    service_graph,
    to_dot,
    to_graphml,
)
from tests.telemetry.runs import EDGE, make_run

DECLARED = {
    (INGRESS, "order"), (INGRESS, "product"), (INGRESS, "user"),
    ("order", "user"), ("order", "product"), ("order", "shipping"),
}  # fmt: skip


def _edge(source: str, dest: str, **kw: object) -> dict[str, object]:
    return {**EDGE, "source": source, "destination": dest, "errors": 0, **kw}


def test_declared_graph_from_the_shop_and_the_gateway() -> None:
    assert set(declared_graph().edges) == DECLARED
    assert set(declared_graph(["product", "user"]).edges) == {
        (INGRESS, "product"),
        (INGRESS, "user"),
    }
    state = PolicyState.initial()
    state.apply([parse_resource({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "shop"},
        "spec": {"hosts": ["*"], "gateways": ["meshsim-gateway"],
                 "http": [{"route": [{"destination": {"host": "order"}}]}]},
    })])  # fmt: skip
    assert (INGRESS, "product") not in declared_graph(state=state).edges


def test_health_thresholds() -> None:
    assert health(0.0, 10) == "healthy" and health(0.0099, 10) == "healthy"
    assert health(0.01, 10) == "degraded" and health(0.1999, 10) == "degraded"
    assert health(0.2, 10) == "failing" and health(None, 0) == "idle"


def test_observed_graph_folds_versions() -> None:
    g = observed_graph([
        _edge("order", "product", destination_version="v1", requests=90, errors=9, rps=9.0),
        _edge("order", "product", destination_version="v2", requests=10, errors=1, rps=1.0,
              latency_histogram={"buckets": {"100": 10}, "sum_ms": 900.0}),
        _edge("order", "user", requests=0),
    ])  # fmt: skip
    data = g.edges["order", "product"]
    assert (data["requests"], data["errors"], data["rps"]) == (100, 10, 10.0)
    assert data["versions"] == {"v1": 90, "v2": 10} and data["health"] == "degraded"
    assert data["p99_ms"] == 90.1  # v1 timed 100 calls under 10 ms, v2 10 slow ones
    assert not g.has_edge("order", "user")


def test_compare_missing_unexpected_idle() -> None:
    edges = [_edge(INGRESS, "product"), _edge("user", "shipping")]
    sg = service_graph(edges, declared_graph())
    c = sg.comparison
    assert c.unexpected == [("user", "shipping")]
    assert (INGRESS, "order") in c.missing and ("order", "user") in c.missing
    assert c.idle == ["order", "user"] and not c.matches
    g = sg.graph
    assert g.nodes["order"]["health"] == "idle" and g.nodes["product"]["health"] == "healthy"
    assert g.edges["user", "shipping"]["declared"] is False
    assert g.edges["order", "user"]["health"] == "idle"
    every = [_edge(s, d) for s, d in DECLARED]
    full = service_graph(every, declared_graph())
    assert full.comparison.matches and full.comparison.idle == []
    assert full.layers() == [[INGRESS], ["order"], ["user", "product", "shipping"]]
    assert full.to_dict()["matches"] is True


def test_dot_and_graphml() -> None:
    sg = service_graph([_edge(INGRESS, "product", errors=30)], declared_graph())
    dot = to_dot(sg, "t")
    assert dot.startswith('digraph "t" {') and dot.rstrip().endswith("}")
    assert '"istio-ingressgateway" -> "product"' in dot and "#dc2626" in dot  # failing: red
    assert '"order" -> "user" [label="no traffic", color="#9ca3af", style=dashed]' in dot
    back = nx.read_graphml(io.BytesIO(to_graphml(sg).encode()))
    assert set(back.edges) == DECLARED
    assert back.edges[INGRESS, "product"]["health"] == "failing"
    assert back.nodes["order"]["health"] == "idle"


def test_run_graphs(tmp_path: Path) -> None:
    graphs = run_graphs(make_run(tmp_path))
    assert list(graphs) == ["one", "two", "all"]
    assert graphs["one"].comparison.matches
    assert graphs["two"].comparison.idle == ["shipping"]
    total = graphs["all"].graph.edges["order", "product"]
    assert total["requests"] == 100 and total["rps"] == 5.0  # 100 calls over 20 s
    assert run_graphs(tmp_path) == {}
