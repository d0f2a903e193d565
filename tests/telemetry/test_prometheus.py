"""`/stats/prometheus` parsed with prometheus_client, histograms and their percentiles.

The text is cut from a real Envoy 1.40 sidecar (order-v1-0) during a run of
scenarios/fault-abort.yaml, with the bucket settings of meshsim.control.observe.
"""

from __future__ import annotations

import math

import pytest

from meshsim.telemetry.prometheus import Buckets, ProxyMetrics, parse_proxy_metrics

ORDER_SIDECAR = """\
# TYPE envoy_cluster_outlier_detection_ejections_enforced_total counter
envoy_cluster_outlier_detection_ejections_enforced_total{envoy_cluster_name="outbound_80__product"} 1
# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="outbound_80__product"} 122
envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="outbound_80__product"} 3
# TYPE envoy_cluster_upstream_rq_completed counter
envoy_cluster_upstream_rq_completed{envoy_cluster_name="outbound_80__product"} 125
envoy_cluster_upstream_rq_completed{envoy_cluster_name="inbound_80__order"} 99
# TYPE envoy_cluster_upstream_rq_retry counter
envoy_cluster_upstream_rq_retry{envoy_cluster_name="outbound_80__product"} 2
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="outbound_80__product"} 127
# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="outbound_80__product"} 122
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="outbound_80__product"} 3
# TYPE envoy_http_0_0_0_80_fault_aborts_injected counter
envoy_http_0_0_0_80_fault_aborts_injected{envoy_http_conn_manager_prefix="outbound_0"} 25
envoy_http_0_0_0_80_fault_aborts_injected{envoy_http_conn_manager_prefix="inbound_0"} 4
envoy_http_0_0_0_80_fault_aborts_injected{envoy_fault_downstream_cluster="order",envoy_http_conn_manager_prefix="inbound_0"} 4
# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound_80__product",le="0.5"} 5
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound_80__product",le="1"} 20
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound_80__product",le="2"} 90
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound_80__product",le="5"} 120
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound_80__product",le="60000"} 125
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound_80__product",le="+Inf"} 125
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="outbound_80__product"} 311.5
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="outbound_80__product"} 125
"""


def test_parse_the_counters_edges_need() -> None:
    m = parse_proxy_metrics(ORDER_SIDECAR)
    assert m.clusters == {
        "outbound_80__product": {
            "ejections": 1,
            "requests": 125,
            "retries": 2,
            "attempts": 127,  # Envoy's upstream_rq_total; the per-code counters are left out
            "rq_2xx": 122,
            "rq_5xx": 3,
        }
    }
    # faults per direction; those counted again under the caller's name are not added twice
    assert m.faults == {
        "outbound": {"aborted": 25, "delayed": 0},
        "inbound": {"aborted": 4, "delayed": 0},
    }


def test_parse_the_latency_histogram() -> None:
    buckets = parse_proxy_metrics(ORDER_SIDECAR).latency["outbound_80__product"]
    assert buckets.counts == {0.5: 5, 1.0: 15, 2.0: 70, 5.0: 30, 60000.0: 5, math.inf: 0}
    assert buckets.count == 125 and buckets.total_ms == 311.5


def test_quantiles_interpolate_inside_buckets() -> None:
    b = Buckets({1.0: 50, 5.0: 40, 10.0: 10}, 250.0)
    assert b.quantile(0.5) == 1.0
    assert b.quantile(0.9) == 5.0
    assert b.quantile(0.99) == 9.5
    assert b.mean() == 2.5
    assert Buckets().quantile(0.5) is None and Buckets().mean() is None
    # in the +Inf bucket: the highest finite bound
    assert Buckets({10.0: 1, math.inf: 9}).quantile(0.99) == 10.0


def test_delta_merge_and_json() -> None:
    before = Buckets({1.0: 5, 5.0: 2}, 10.0)
    after = Buckets({1.0: 8, 5.0: 2, 10.0: 1}, 22.0)
    moved = after.delta(before)
    assert moved.counts == {1.0: 3, 10.0: 1} and moved.total_ms == 12.0
    assert after.delta(None).counts == after.counts
    restarted = Buckets({1.0: 1}, 1.0).delta(before)  # Envoy restarted: from zero
    assert restarted.counts == {1.0: 1}
    merged = moved.merge(Buckets({1.0: 1, math.inf: 1}, 100.0))
    assert merged.counts == {1.0: 4, 10.0: 1, math.inf: 1} and merged.total_ms == 112.0
    raw = merged.to_json()
    assert raw == {"buckets": {"1": 4, "10": 1, "+Inf": 1}, "sum_ms": 112.0}
    assert Buckets.from_json(raw) == merged
    assert Buckets.from_json({"buckets": {"x": 1}}) is None
    assert Buckets.from_json(None) is None


def test_proxy_metrics_round_trip() -> None:
    m = parse_proxy_metrics(ORDER_SIDECAR)
    again = ProxyMetrics.from_json(m.to_json())
    assert again.clusters == m.clusters and again.faults == m.faults
    assert again.latency["outbound_80__product"].counts == {
        k: v for k, v in m.latency["outbound_80__product"].counts.items() if v
    }


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_proxy_metrics("envoy_cluster_upstream_rq_total{ 1 2 3\n")
