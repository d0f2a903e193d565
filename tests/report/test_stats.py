from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram

from meshsim.load.records import RequestRecord
from meshsim.report.stats import (
    LatencyRecorder,
    _TrafficBuilder,
    bucket_of,
    counts_index,
    phase_stats,
    split_instance,
    time_series,
)
from tests.report.runs import T0, request


def rec(t: float = 0.0, **fields: object) -> RequestRecord:
    return RequestRecord.from_json(request(t, **fields))  # type: ignore[arg-type]


def test_percentiles_of_a_uniform_distribution_within_hdr_precision() -> None:
    recorder = LatencyRecorder()
    for us in range(1, 10_001):  # 1 µs .. 10 ms, uniformly
        recorder.record(us)
    latency = recorder.summary()
    # 3 significant digits: every value is within 0.1% of the true one.
    assert latency.p50 == pytest.approx(5.0, rel=2e-3)
    assert latency.p90 == pytest.approx(9.0, rel=2e-3)
    assert latency.p95 == pytest.approx(9.5, rel=2e-3)
    assert latency.p99 == pytest.approx(9.9, rel=2e-3)
    assert latency.p999 == pytest.approx(9.99, rel=2e-3)
    assert latency.max == 10.0  # exact, not HdrHistogram's bucket edge
    assert latency.mean == pytest.approx(5.0005, abs=1e-3)


def test_percentiles_never_exceed_the_exact_max() -> None:
    recorder = LatencyRecorder()
    for _ in range(10):
        recorder.record(10_001)  # HdrHistogram's bucket edge for this is above it
    latency = recorder.summary()
    assert latency.p99 is not None and latency.max is not None
    assert latency.p99 <= latency.max == 10.001


def test_out_of_range_latencies_are_clamped_not_lost() -> None:
    recorder = LatencyRecorder()
    recorder.record(0)
    recorder.record(90_000_000)  # 90 s: above the histogram's 60 s
    latency = recorder.summary()
    assert recorder.count == 2
    assert latency.max == 90_000.0
    assert latency.p50 is not None and latency.p50 <= 0.001


def test_no_requests_no_latency() -> None:
    assert LatencyRecorder().summary().to_dict() == dict.fromkeys(
        ("p50", "p90", "p95", "p99", "p999", "max", "mean")
    )


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ("product-v2-0", ("product", "v2")),
        ("order-v1-12", ("order", "v1")),
        ("my-service-v3-1", ("my-service", "v3")),
        ("ingress", None),
        ("a--0", None),
    ],
)
def test_split_instance(instance: str, expected: tuple[str, str] | None) -> None:
    assert split_instance(instance) == expected


def test_phase_stats_counts_rates_and_breakdowns() -> None:
    records = [
        rec(0.0, name="GET /products", journey="browse", latency_us=1000),
        rec(0.1, name="GET /products", journey="browse", latency_us=3000, ok=False),
        rec(
            0.2,
            name="POST /orders",
            journey="place_order",
            instance="order-v1-0",
            upstreams=["user-v1-0", "product-v2-0", "shipping-v1-0"],
            status=201,
        ),
        rec(0.3, name="GET /products/{id}", journey=None, instance="product-v2-0"),
    ]
    stats = phase_stats(records, duration_s=2.0)
    assert stats.overall.requests == 4
    assert stats.overall.failures == 1
    assert stats.overall.error_rate == 0.25
    assert stats.overall.rps == 2.0
    assert stats.endpoints["GET /products"].requests == 2
    assert stats.endpoints["GET /products"].error_rate == 0.5
    assert stats.endpoints["GET /products"].latency.max == 3.0
    assert set(stats.journeys) == {"browse", "place_order"}  # a record without journey: none
    assert stats.served == {
        "order": {"v1": 1},
        "product": {"v1": 2, "v2": 2},
        "shipping": {"v1": 1},
        "user": {"v1": 1},
    }
    assert stats.share("product", "v2") == 0.5
    assert stats.share("nothing", "v1") is None
    assert stats.versions["order:v1"].requests == 1  # served it itself, as the entry service
    assert stats.status_codes == {"200": 2, "201": 1, "503": 1}
    assert stats.errors == [("HTTP 503", 1)]


def test_error_rate_is_unknown_without_requests() -> None:
    stats = phase_stats([], duration_s=5.0)
    assert stats.overall.requests == 0
    assert stats.overall.error_rate is None
    assert stats.overall.rps == 0.0


def test_time_series_buckets_gaps_and_origin() -> None:
    records = [
        rec(-1.0),  # before the run started: not charted
        rec(0.1, latency_us=1000),
        rec(0.5, latency_us=3000, ok=False),
        rec(2.2, latency_us=2000),
    ]
    points = time_series(records, origin=T0, end=T0 + 4.0)
    assert [p.t_s for p in points] == [0.0, 1.0, 2.0, 3.0]
    assert [p.requests for p in points] == [2, 0, 1, 0]
    assert points[0].error_rate == 0.5
    assert points[0].rps == 2.0
    assert points[0].p99_ms == pytest.approx(3.0, rel=1e-3)
    assert points[1].p50_ms is None and points[1].error_rate is None  # a gap in the chart
    assert points[2].p50_ms == pytest.approx(2.0, rel=1e-3)


def test_phase_stats_per_cohort() -> None:
    records = [
        rec(0.0, cohort="beta", instance="order-v1-0", upstreams=["product-v2-0"]),
        rec(0.1, cohort="beta", instance="order-v1-0", upstreams=["product-v2-0"], ok=False),
        rec(0.2, instance="order-v1-0", upstreams=["product-v1-0"]),
        rec(0.3, cohort="other", instance="product-v1-0"),  # in the records only
    ]
    stats = phase_stats(records, duration_s=2.0, cohorts=["staff", "beta"])
    assert list(stats.cohorts) == ["staff", "beta", "other"]  # the scenario's first
    beta = stats.cohorts["beta"]
    assert (beta.traffic.requests, beta.traffic.failures, beta.traffic.error_rate) == (2, 1, 0.5)
    assert beta.served == {"order": {"v1": 2}, "product": {"v2": 2}}
    assert stats.cohorts["staff"].traffic.requests == 0 and stats.cohorts["staff"].served == {}
    assert stats.cohorts["other"].served == {"product": {"v1": 1}}
    assert stats.served["product"] == {"v1": 2, "v2": 2}  # everyone, cohorts or not
    assert set(beta.to_dict()) == {
        "requests", "failures", "error_rate", "rps", "latency_ms", "served"
    }  # fmt: skip


def test_no_cohorts_without_cohorts() -> None:
    assert phase_stats([rec(0.0)], duration_s=1.0).cohorts == {}


@pytest.mark.parametrize("seed", range(5))
def test_latency_recorder_gives_hdrhistogram_s_percentiles(seed: int) -> None:
    """The sparse recorder is HdrHistogram (1 µs..60 s, 3 digits) exactly."""
    rng = random.Random(seed)
    values = [
        int(rng.lognormvariate(8, 3)) for _ in range(5_000 if seed % 2 else 200)
    ]  # dense, sparse
    values += [0, 1, 2047, 2048, 2049, 4095, 4096, 59_999_999, 60_000_000, 90_000_000]
    reference = HdrHistogram(1, 60_000_000, 3)
    recorder = LatencyRecorder()
    for v in values:
        reference.record_value(min(max(v, 1), 60_000_000))
        recorder.record(v)
        assert counts_index(min(max(v, 1), 60_000_000)) == reference._counts_index_for(
            min(max(v, 1), 60_000_000)
        )
    wanted = [0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]
    expected = reference.get_percentile_to_value_dict(wanted)
    assert recorder.percentiles(wanted) == {p: round(v / 1000, 3) for p, v in expected.items()}
    half = LatencyRecorder()
    other = LatencyRecorder()
    for i, v in enumerate(values):
        (half if i % 2 else other).record(v)
    half.merge(other)
    assert half.percentiles(wanted) == recorder.percentiles(wanted)


def test_traffic_builder_records_as_record_at_does() -> None:
    """_TrafficBuilder.record keeps an inline copy of LatencyRecorder.record_at
    (for speed): both give the same histogram, sparse and after densifying,
    with the same count, sum and max, and leave requests not sent out of it."""
    rng = random.Random(7)
    builder, recorder = _TrafficBuilder(), LatencyRecorder()
    for n in range(4_000):  # several hundred distinct buckets: past _SPARSE_MAX
        latency = int(rng.lognormvariate(9, 1.5))
        bucket = None if n % 97 == 0 else bucket_of(latency)
        builder.record(bucket, latency, ok=n % 13 != 0)
        if bucket is not None:
            recorder.record_at(bucket, latency)
        if n in (10, 3_999):
            mine = builder.recorder
            assert (mine._dense is None) == (n == 10)
            assert mine._items() == recorder._items()
            assert (mine.count, mine._sum_us, mine._max_us) == (
                recorder.count,
                recorder._sum_us,
                recorder._max_us,
            )
            assert mine.summary() == recorder.summary()
    assert builder.requests == 4_000 and builder.failures == len(range(0, 4_000, 13))
