"""`/stats/prometheus` parsed with prometheus_client, histograms and their percentiles.

The text is cut from a real Envoy 1.40 sidecar (order-v1-0) during a run of
scenarios/fault-abort.yaml, with the bucket settings of meshsim.control.observe.
"""

from __future__ import annotations

import math

import pytest

from meshsim.control.observe import LATENCY_BUCKETS_MS
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
    assert moved.counts == {1.0: 3, 5.0: 0, 10.0: 1} and moved.total_ms == 12.0
    assert after.delta(None).counts == after.counts
    restarted = Buckets({1.0: 1}, 1.0).delta(before)  # Envoy restarted: from zero
    assert restarted.counts == {1.0: 1}
    merged = moved.merge(Buckets({1.0: 1, math.inf: 1}, 100.0))
    assert merged.counts == {1.0: 4, 5.0: 0, 10.0: 1, math.inf: 1} and merged.total_ms == 112.0
    raw = merged.to_json()
    assert raw == {"buckets": {"1": 4, "5": 0, "10": 1, "+Inf": 1}, "sum_ms": 112.0}
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


# Envoy's upstream_rq_time buckets, as meshsim configures them (observe.py).
_LAYOUT = (*LATENCY_BUCKETS_MS, math.inf)


def _scrape(values_ms: list[float]) -> str:
    """A sidecar's /stats/prometheus after `values_ms` were timed, each counted
    as Envoy counts it: in the first bucket whose bound is above the value."""
    lines = ["# TYPE envoy_cluster_upstream_rq_time histogram"]
    for le in _LAYOUT:
        below = sum(1 for v in values_ms if v < le)
        text = "+Inf" if math.isinf(le) else f"{le:g}"
        lines.append(
            f'envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name="outbound_80__product",'
            f'le="{text}"}} {below}'
        )
    lines.append(
        'envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="outbound_80__product"} '
        f"{sum(values_ms)}"
    )
    lines.append(
        'envoy_cluster_upstream_rq_time_count{envoy_cluster_name="outbound_80__product"} '
        f"{len(values_ms)}"
    )
    return "\n".join(lines) + "\n"


def _phase_histogram(before_ms: list[float], during_ms: list[float]) -> Buckets:
    """What the report holds for a phase: the delta between two scrapes, through
    the JSON it is stored as."""
    key = "outbound_80__product"
    before = parse_proxy_metrics(_scrape(before_ms)).latency[key]
    after = parse_proxy_metrics(_scrape(before_ms + during_ms)).latency[key]
    stored = Buckets.from_json(after.delta(before).to_json())
    assert stored is not None
    return stored


def test_quantiles_of_calls_all_in_one_high_bucket() -> None:
    # 90 calls of ~1,990 ms fall in (1500, 2000]: Prometheus' histogram_quantile
    # interpolates inside that bucket, never from 0 (the bug: p50 1000 ms)
    b = _phase_histogram([3.0] * 50, [1990.0] * 90)
    assert b.count == 90
    assert (b.quantile(0.5), b.quantile(0.9), b.quantile(0.99)) == (1750.0, 1950.0, 1995.0)
    # the same in a fresh proxy (no scrape before) and after an earlier, faster phase
    assert _phase_histogram([], [1990.0] * 90).quantile(0.5) == 1750.0


def test_quantiles_of_a_uniform_distribution() -> None:
    # 2,000 calls spread evenly over 0..1000 ms: linear interpolation inside
    # each bucket is then exact up to the spacing of the values
    values = [i * 0.5 for i in range(2000)]
    b = _phase_histogram([7.0] * 100, values)
    for q in (0.5, 0.9, 0.99):
        assert b.quantile(q) == pytest.approx(q * 1000, abs=0.5)
    # uniform inside one bucket that starts well above 0: 300..400 ms
    b = _phase_histogram([], [300 + i for i in range(100)])
    assert b.quantile(0.5) == pytest.approx(350, abs=1)
    assert b.quantile(0.9) == pytest.approx(390, abs=1)


def test_json_keeps_the_lower_bound_of_each_bucket() -> None:
    b = Buckets({1.0: 0, 2.0: 0, 3.0: 0, 5.0: 12, 8.0: 0, 10.0: 0, math.inf: 1}, 70.0)
    assert b.to_json()["buckets"] == {"3": 0, "5": 12, "10": 0, "+Inf": 1}
    assert Buckets.from_json(b.to_json()).quantile(0.5) == 4.083  # 3 + 2 * 6.5 / 12  # type: ignore[union-attr]
