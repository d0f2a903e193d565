"""Edges with latency, rates and answer classes (build_edges' derived keys)."""

from __future__ import annotations

from meshsim.report.expectations import evaluate
from meshsim.report.stats import phase_stats
from meshsim.scenario.expect import parse_expectation
from meshsim.telemetry.edges import EdgeContext, ProxyView, build_edges
from meshsim.telemetry.envoy_stats import ClusterDelta, FaultDelta
from meshsim.telemetry.prometheus import Buckets

CONTEXT = EdgeContext(
    proxies={
        "order-v1-0": ProxyView("order-v1-0", "order", "v1", caller_faults={"product": 503}),
        "order-v1-1": ProxyView("order-v1-1", "order", "v1"),
    },
    cluster_versions={"outbound_80_v1_product": "v1", "outbound_80_v2_product": "v2"},
)


def _edges() -> list[dict[str, object]]:
    clusters = {
        "order-v1-0": {
            "outbound_80_v1_product": ClusterDelta(
                "outbound_80_v1_product", "product", "v1", requests=80, rq_2xx=78, rq_5xx=2,
                rq_4xx=0, attempts=80,
            ),
            "outbound_80_v2_product": ClusterDelta(
                "outbound_80_v2_product", "product", "v2", requests=20, rq_2xx=20, attempts=20
            ),
        },
        "order-v1-1": {
            "outbound_80_v1_product": ClusterDelta(
                "outbound_80_v1_product", "product", "v1", requests=20, rq_2xx=20, attempts=20
            ),
        },
    }  # fmt: skip
    faults = {"order-v1-0": [FaultDelta("outbound_0.0.0.0_80", None, aborted=10)]}
    latency = {
        "order-v1-0": {
            "outbound_80_v1_product": Buckets({2.0: 70, 5.0: 10}, 200.0),
            "outbound_80_v2_product": Buckets({50.0: 20}, 900.0),
        },
        "order-v1-1": {"outbound_80_v1_product": Buckets({2.0: 10, 10.0: 10}, 100.0)},
    }
    return build_edges(CONTEXT, clusters, faults, latency=latency, duration_s=10.0)


def test_derived_keys() -> None:
    v1, v2 = _edges()
    # 8 of the 10 caller-side aborts go to v1 (100 of its 120 requests), as 503s
    assert (v1["requests"], v1["errors"], v1["rq_5xx"], v1["faults_aborted"]) == (108, 10, 10, 8)
    assert v1["rq_2xx"] == 98 and v1["error_rate"] == round(10 / 108, 6) and v1["rps"] == 10.8
    # the two order instances' histograms are summed per edge
    assert v1["latency_histogram"] == {"buckets": {"2": 80, "5": 10, "10": 10}, "sum_ms": 300.0}
    assert v1["latency_ms"] == {"p50": 1.25, "p90": 5.0, "p99": 9.5, "mean": 3.0}
    assert v2["latency_ms"]["p50"] == 25.0 and v2["rps"] == 2.2


def test_without_latency_or_duration_nothing_is_added() -> None:
    clusters = {"order-v1-1": {"outbound_80_v1_product": ClusterDelta(
        "outbound_80_v1_product", "product", "v1", requests=3)}}  # fmt: skip
    (edge,) = build_edges(CONTEXT, clusters, {})
    assert "latency_ms" not in edge and "rps" not in edge
    (edge,) = build_edges(CONTEXT, clusters, {}, duration_s=3.0)
    assert edge["latency_ms"] is None and edge["rps"] == 1.0 and edge["error_rate"] == 0.0


def test_edge_expectations_merge_the_versions() -> None:
    edges = _edges()
    stats = phase_stats([], 10.0)

    def observed(text: str) -> float | None:
        return evaluate(parse_expectation(text), stats, edges, 10.0).observed

    # v1: 108 requests, 10 errors; v2: 20 answered and 2 of the aborts
    assert observed("edge(order->product).error_rate < 1%") == round(12 / 130, 6)
    # v1's 100 timed calls and v2's 20 in one histogram
    assert observed("edge(order->product).p50 < 50ms") == 1.5
    assert observed("edge(order->product).p99 < 50ms") == 47.6
    assert observed("edge(order->product).mean < 50ms") == 10.0
    result = evaluate(parse_expectation("edge(order->product).max < 1s"), stats, edges, 10.0)
    assert result.observed is None and "percentiles" in (result.note or "")
    one = [edges[0]]
    assert (
        evaluate(parse_expectation("edge(order->product).p99 < 50ms"), stats, one, 10.0).observed
        == 9.5
    )
    share = evaluate(parse_expectation("version(product:v2).share = 17% ± 3%"), stats, edges, 10.0)
    assert share.passed and share.observed == round(22 / 130, 6)
