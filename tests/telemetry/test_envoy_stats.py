"""Edge counters from two Envoy stats snapshots. Pure; the snapshots are
shaped like what Envoy 1.40 really reports (see meshsim/telemetry/envoy_stats.py)."""

from __future__ import annotations

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState, version_subsets
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths
from meshsim.scenario.istio import parse_resource
from meshsim.telemetry.edges import EdgeContext, ProxyView, build_edges, split
from meshsim.telemetry.envoy_stats import (
    ClusterDelta,
    FaultDelta,
    cluster_deltas,
    counter_delta,
    fault_deltas,
    parse_cluster,
)
from meshsim.telemetry.recorder import edge_context

P = "cluster.outbound_80__product."


def test_parse_cluster_stat_names() -> None:
    assert parse_cluster("outbound_80__product") == ("80", "", "product")
    assert parse_cluster("outbound_80_v1_product") == ("80", "v1", "product")
    assert parse_cluster("outbound_80_canary-2_product") == ("80", "canary-2", "product")
    assert parse_cluster("inbound_80__product") is None


def test_counter_delta_survives_a_restart() -> None:
    assert counter_delta({"a": 5}, {"a": 9}, "a") == 4
    assert counter_delta({"a": 50}, {"a": 9}, "a") == 9  # Envoy restarted: counts from zero
    assert counter_delta({}, {"a": 3}, "a") == 3


def test_cluster_deltas_from_measured_counters() -> None:
    # a killed instance behind default retries: 131 retried 503s, all answered 200 in the end
    before = {
        P + "upstream_rq_total": 10,
        P + "upstream_rq_completed": 10,
        P + "upstream_rq_2xx": 10,
    }
    after = {
        P + "upstream_rq_total": 441,
        P + "upstream_rq_completed": 310,
        P + "upstream_rq_2xx": 310,
        P + "upstream_rq_retry": 131,
        P + "retry.upstream_rq_5xx": 131,
        P + "upstream_rq_pending_overflow": 0,
        P + "outlier_detection.ejections_enforced_total": 1,
        P + "circuit_breakers.default.remaining_cx": 4294967280,
        "cluster.outbound_80_v2_product.upstream_rq_timeout": 2,
    }
    deltas = cluster_deltas(before, after)
    d = deltas["outbound_80__product"]
    assert (d.service, d.subset) == ("product", "")
    assert (d.requests, d.attempts, d.rq_2xx, d.rq_5xx) == (300, 431, 300, 0)
    assert (d.retries, d.ejections) == (131, 1)
    assert deltas["outbound_80_v2_product"].timeouts == 2
    assert deltas["outbound_80_v2_product"].subset == "v2"


def test_fault_deltas_split_named_callers_from_the_total() -> None:
    before = {"http.inbound_0.0.0.0_80.fault.aborts_injected": 5}
    after = {
        "http.inbound_0.0.0.0_80.fault.aborts_injected": 35,
        "http.inbound_0.0.0.0_80.fault.order.aborts_injected": 27,
        "http.inbound_0.0.0.0_80.fault.istio-ingressgateway.delays_injected": 4,
        "http.inbound_0.0.0.0_80.fault.delays_injected": 4,
        "http.outbound_0.0.0.0_80.fault.aborts_injected": 69,
    }
    got = fault_deltas(before, after)
    assert FaultDelta("inbound_0.0.0.0_80", "order", aborted=27) in got
    assert FaultDelta("inbound_0.0.0.0_80", "istio-ingressgateway", delayed=4) in got
    assert FaultDelta("inbound_0.0.0.0_80", None, aborted=3) in got  # 30 in all, 27 named
    assert FaultDelta("outbound_0.0.0.0_80", None, aborted=69) in got


def test_split_keeps_the_total() -> None:
    assert split(10, [1, 1, 1]) == [4, 3, 3]
    assert split(7, [0, 0]) == [4, 3]
    assert split(100, [90, 10]) == [90, 10]
    assert sum(split(13, [5, 1, 7])) == 13


def _context(**views: ProxyView) -> EdgeContext:
    versions = {
        "outbound_80__product": None,
        "outbound_80_v1_product": "v1",
        "outbound_80_v2_product": "v2",
    }
    return EdgeContext(dict(views), versions)


def test_a_fault_aborted_in_the_caller_counts_as_a_request_and_an_error() -> None:
    order = ProxyView("order-v1-0", "order", "v1", caller_faults={"product": 503})
    clusters = {
        "order-v1-0": {
            "outbound_80__product": ClusterDelta(
                "outbound_80__product", "product", "", requests=489, rq_2xx=489
            )
        }
    }
    faults = {"order-v1-0": [FaultDelta("outbound_0.0.0.0_80", None, aborted=154)]}
    (edge,) = build_edges(_context(**{"order-v1-0": order}), clusters, faults)
    assert edge["source"] == "order" and edge["destination"] == "product"
    assert edge["destination_version"] is None
    assert (edge["requests"], edge["errors"], edge["faults_aborted"]) == (643, 154, 154)


def test_a_fault_at_the_destination_is_given_to_its_caller_and_version() -> None:
    order = ProxyView("order-v1-0", "order", "v1")
    v2 = ProxyView("product-v2-0", "product", "v2")
    clusters = {
        "order-v1-0": {
            "outbound_80_v1_product": ClusterDelta(
                "outbound_80_v1_product", "product", "v1", requests=90
            ),
            "outbound_80_v2_product": ClusterDelta(
                "outbound_80_v2_product", "product", "v2", requests=10, rq_5xx=2
            ),
        }
    }
    faults = {"product-v2-0": [FaultDelta("inbound_0.0.0.0_80", "order", aborted=2, delayed=1)]}
    edges = build_edges(_context(**{"order-v1-0": order, "product-v2-0": v2}), clusters, faults)
    by_version = {e["destination_version"]: e for e in edges}
    assert by_version["v2"]["errors"] == by_version["v2"]["faults_aborted"] == 2
    assert by_version["v2"]["faults_delayed"] == 1
    assert by_version["v2"]["requests"] == 10  # already counted by the caller
    assert by_version["v1"]["faults_aborted"] == 0


def test_mirrored_calls_never_count_as_requests() -> None:
    order = ProxyView("order-v1-0", "order", "v1", mirror_only={"outbound_80_v2_product"})
    clusters = {
        "order-v1-0": {
            "outbound_80_v1_product": ClusterDelta(
                "outbound_80_v1_product", "product", "v1", requests=50
            ),
            "outbound_80_v2_product": ClusterDelta(
                "outbound_80_v2_product", "product", "v2", requests=50
            ),
        }
    }
    edges = build_edges(_context(**{"order-v1-0": order}), clusters, {})
    v2 = next(e for e in edges if e["destination_version"] == "v2")
    assert (v2["requests"], v2["mirrored"]) == (0, 50)


def test_edge_context_reads_versions_faults_and_mirrors_from_compiled_config() -> None:
    plan = build_plan({"product": {"v1": 2, "v2": 1}, "order": {"v1": 1}}, ingress_port=0)
    subsets = version_subsets("product")
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "product"},
        "spec": {
            "hosts": ["product"],
            "http": [
                {
                    "route": [{"destination": {"host": "product", "subset": "v1"}}],
                    "mirror": {"host": "product", "subset": "v2"},
                    "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 1}}},
                }
            ],
        },
    }
    state = PolicyState.initial()
    state.apply([parse_resource(subsets), parse_resource(vs)])
    ctx = edge_context(plan, compile_mesh(plan, state, Paths("/tmp/x")))
    assert ctx.cluster_versions["outbound_80_v1_product"] == "v1"
    assert ctx.cluster_versions["outbound_80__product"] is None  # both versions
    assert ctx.cluster_versions["outbound_80__order"] == "v1"  # one version only
    order = ctx.proxies["order-v1-0"]
    assert order.caller_faults == {"product": 500}
    assert order.mirror_only == {"outbound_80_v2_product"}
    assert ctx.proxies["istio-ingressgateway"].service == "istio-ingressgateway"
