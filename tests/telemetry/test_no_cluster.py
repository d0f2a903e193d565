"""Calls a route sends to a cluster the caller lacks (Envoy's `NC`: a subset
no DestinationRule defines) are 503s of the caller's own router; they reach
no cluster, so they are counted from `http.<listener>.no_cluster`."""

from __future__ import annotations

import json
from pathlib import Path

from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths
from meshsim.scenario.istio import parse_resource
from meshsim.telemetry.edges import EdgeContext, build_edges, proxy_view
from meshsim.telemetry.envoy_stats import STATS_FILTER, no_cluster_deltas
from tests.telemetry.test_recorder import PLAN, ScriptedRecorder, order_stats

NC = "http.outbound_0.0.0.0_80.no_cluster"


def _to_v3() -> dict[str, object]:
    """order's sidecar routes product to subset v3, which no DestinationRule defines."""
    state = PolicyState.initial()
    state.apply([parse_resource({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "product"},
        "spec": {"hosts": ["product"], "http": [{"route": [
            {"destination": {"host": "product", "subset": "v3"}}]}]},
    })])  # fmt: skip
    return compile_mesh(PLAN, state, Paths("/tmp/xds"))  # type: ignore[return-value]


def test_the_stat_is_asked_for_and_read_per_listener() -> None:
    import re

    assert re.search(STATS_FILTER, NC)
    assert not re.search(STATS_FILTER, "http.outbound_0.0.0.0_80.rq_total")
    before = {NC: 3, "http.inbound_0.0.0.0_80.no_cluster": 0}
    after = {NC: 1530, "http.inbound_0.0.0.0_80.no_cluster": 0}
    assert no_cluster_deltas(before, after) == {"outbound_0.0.0.0_80": 1527}


def test_a_route_to_a_missing_subset_names_its_service() -> None:
    configs = _to_v3()
    cfg = configs["order-v1-0"]
    routes = [rc for name, rc in cfg.routes.items() if name != "inbound"]  # type: ignore[attr-defined]
    names = [c["name"] for c in cfg.clusters]  # type: ignore[attr-defined]
    assert proxy_view("order-v1-0", "order", "v1", routes, names).unrouted == {"product"}
    # without a route to nowhere there is nothing to attribute
    healthy = compile_mesh(PLAN, PolicyState.initial(), Paths("/tmp/xds"))["order-v1-0"]
    routes = [rc for name, rc in healthy.routes.items() if name != "inbound"]
    names = [c["name"] for c in healthy.clusters]
    assert proxy_view("order-v1-0", "order", "v1", routes, names).unrouted == set()


def test_no_cluster_503s_are_the_callers_requests_and_errors() -> None:
    view = proxy_view("order-v1-0", "order", "v1", [])
    view.unrouted = {"product"}
    context = EdgeContext({"order-v1-0": view}, {})
    (edge,) = build_edges(context, {}, {}, no_cluster={"order-v1-0": {"outbound_0.0.0.0_80": 1527}})
    assert (edge["source"], edge["destination"], edge["destination_version"]) == (
        "order", "product", None,
    )  # fmt: skip
    assert (edge["requests"], edge["errors"], edge["rq_5xx"], edge["no_cluster"]) == (
        1527, 1527, 1527, 1527,
    )  # fmt: skip
    assert edge["attempts"] == 0  # nothing was sent upstream


async def test_the_recorder_counts_them_on_the_callers_edge(tmp_path: Path) -> None:
    configs = _to_v3()
    snapshots = [
        {"order-v1-0": {**order_stats(100, 0), NC: 0}},
        {"order-v1-0": {**order_stats(100, 0), NC: 1527}},
    ]
    recorder = ScriptedRecorder(tmp_path / "edges.json", snapshots)
    await recorder.begin(configs)  # type: ignore[arg-type]
    edges = await recorder.phase_done("to-v3", configs)  # type: ignore[arg-type]
    (edge,) = [e for e in edges if (e["source"], e["destination"]) == ("order", "product")]
    assert edge["requests"] == edge["errors"] == edge["no_cluster"] == 1527
    assert json.loads((tmp_path / "edges.json").read_text())["phases"]["to-v3"] == edges
