"""An edge's requests are always the sum of its outcomes:
rq_2xx + rq_4xx + rq_5xx + unclassified."""

from __future__ import annotations

from meshsim.telemetry.edges import EdgeContext, ProxyView, build_edges
from meshsim.telemetry.envoy_stats import ClusterDelta, FaultDelta

CONTEXT = EdgeContext(
    proxies={
        "istio-ingressgateway": ProxyView("istio-ingressgateway", "istio-ingressgateway"),
        "order-v1-0": ProxyView("order-v1-0", "order", "v1", caller_faults={"product": 503}),
    },
    cluster_versions={"outbound_80__product": "v1"},
)


def _outcomes(edge: dict[str, object]) -> int:
    return sum(int(edge[k]) for k in ("rq_2xx", "rq_4xx", "rq_5xx", "unclassified"))  # type: ignore[call-overload]


def test_requests_are_the_sum_of_outcomes() -> None:
    # The ingress's counters after a pool-limits phase whose DestinationRule
    # replaced the cluster mid-flight (measured, Envoy 1.40): 266 completed,
    # 188 + 71 charged to a status class.
    clusters = {
        "istio-ingressgateway": {"outbound_80__product": ClusterDelta(
            "outbound_80__product", "product", "", requests=266, attempts=195, rq_2xx=188,
            rq_5xx=71, pending_overflow=71)},
        "order-v1-0": {"outbound_80__product": ClusterDelta(
            "outbound_80__product", "product", "", requests=100, attempts=100, rq_2xx=98,
            rq_4xx=2)},
    }  # fmt: skip
    faults = {"order-v1-0": [FaultDelta("outbound_0.0.0.0_80", None, aborted=20)]}
    ingress, order = build_edges(CONTEXT, clusters, faults)
    assert ingress["source"] == "istio-ingressgateway" and ingress["unclassified"] == 7
    assert ingress["requests"] == _outcomes(ingress) == 266
    # a steady phase: nothing unclassified; caller-side aborts are 5xx answers
    assert order["unclassified"] == 0 and order["rq_5xx"] == 20
    assert order["requests"] == _outcomes(order) == 120
