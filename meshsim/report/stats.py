"""Statistics over recorded requests: counts, rates, latency percentiles.

Percentiles come from HdrHistogram over microseconds (3 significant digits,
1 µs .. 60 s), reported in milliseconds with 3 decimals; `max` and `mean` are
exact. Every request counts towards latency, failed or not, as in Locust: a
fast 503 is still a response the shopper waited for.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from meshsim.load.records import RequestRecord

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
LATENCY_KEYS = (*PERCENTILES, "max", "mean")
TOP_ERRORS = 5


@dataclass(frozen=True)
class Latency:
    """Latency in milliseconds; all None when nothing was measured."""

    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None
    mean: float | None = None

    def get(self, key: str) -> float | None:
        value = getattr(self, key)
        assert value is None or isinstance(value, float)
        return value

    def to_dict(self) -> dict[str, float | None]:
        return {key: self.get(key) for key in LATENCY_KEYS}


# The histogram's shape (bucket boundaries, and the value each count stands
# for) comes from hdrh itself. What LatencyRecorder does not take from it is
# the storage and the walk: hdrh's pure-Python record_value and its
# percentile walk over all ~17,000 counts were most of a long run's report
# time (docs/benchmarks.md), so counts live in a dict of the indexes in use
# and a query walks only those (`LatencyRecorder`). Both give hdrh's numbers exactly
# (tests/report/test_stats.py checks them against an HdrHistogram).
_SHAPE = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
_HALF_MAGNITUDE: int = _SHAPE.sub_bucket_half_count_magnitude
_HALF_COUNT: int = _SHAPE.sub_bucket_half_count
_MASK: int = _SHAPE.sub_bucket_mask
_UNIT: int = _SHAPE.unit_magnitude


def bucket_of(latency_us: int) -> int:
    """The histogram bucket (counts index) a latency is recorded in, clamped."""
    return counts_index(min(max(latency_us, LOWEST_US), HIGHEST_US))


def counts_index(value: int) -> int:
    """hdrh's `_counts_index_for(value)`, in a few integer operations."""
    bucket = (value | _MASK).bit_length() - _UNIT - (_HALF_MAGNITUDE + 1)
    sub_bucket = value >> (bucket + _UNIT)
    return ((bucket + 1) << _HALF_MAGNITUDE) + sub_bucket - _HALF_COUNT


_SPARSE_MAX = 512  # buckets in use up to which a dict is smaller than the full array


class LatencyRecorder:
    """Collects latencies in µs; `summary(...)` turns them into a `Latency`.

    An HdrHistogram (1 µs .. 60 s, 3 significant digits) that starts sparse
    (a dict of the buckets in use) and turns into the full array of counts
    (4 bytes each, ~70 KB) once that is smaller: its memory never grows
    with the requests recorded.
    """

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._dense: array[int] | None = None
        self.count = 0
        self._sum_us = 0
        self._max_us = 0

    def reset(self) -> None:
        self._counts.clear()
        self._dense = None
        self.count = 0
        self._sum_us = 0
        self._max_us = 0

    def record(self, latency_us: int) -> None:
        # Out-of-range values are clamped rather than lost: a 0 µs or a 2 min
        # response is still one request at the edge of what we can measure.
        self.record_at(counts_index(min(max(latency_us, LOWEST_US), HIGHEST_US)), latency_us)

    def record_at(self, index: int, latency_us: int) -> None:
        """`record` with the bucket already known (`bucket_of`): a request is
        recorded by several recorders of its phase, and computing it is a cost."""
        if self._dense is not None:
            self._dense[index] += 1
        else:
            counts = self._counts
            counts[index] = counts.get(index, 0) + 1
            if len(counts) > _SPARSE_MAX:
                self._densify()
        self.count += 1
        self._sum_us += latency_us
        if latency_us > self._max_us:
            self._max_us = latency_us

    def _densify(self) -> None:
        dense = array("I", bytes(4 * _SHAPE.counts_len))
        for index, n in self._counts.items():
            dense[index] += n
        self._counts = {}
        self._dense = dense

    def _items(self) -> list[tuple[int, int]]:
        """(index, count) of the buckets in use, by index."""
        if self._dense is not None:
            return [(i, n) for i, n in enumerate(self._dense) if n]
        return sorted(self._counts.items())

    def merge(self, other: LatencyRecorder) -> None:
        """Add `other`'s latencies, as if each had been recorded here."""
        for index, n in other._items():
            if self._dense is not None:
                self._dense[index] += n
            else:
                self._counts[index] = self._counts.get(index, 0) + n
        if self._dense is None and len(self._counts) > _SPARSE_MAX:
            self._densify()
        self.count += other.count
        self._sum_us += other._sum_us
        self._max_us = max(self._max_us, other._max_us)

    def percentiles(self, wanted: Iterable[float]) -> dict[float, float]:
        """Percentile -> milliseconds: hdrh's `get_percentile_to_value_dict`,
        walking only the buckets in use (a count of zero never reaches a target)."""
        if not self.count:
            return {}
        targets = sorted(set(wanted))
        targets = targets[: next((i for i, p in enumerate(targets) if p > 100), len(targets))]
        out: dict[float, float] = {}
        total = 0
        pos = 0
        for index, n in self._items():
            total += n
            while pos < len(targets):
                percentile = targets[pos]
                target = max(int(min(percentile, 100.0) * self.count / 100 + 0.5), 1)
                if total < target:
                    break
                value = _SHAPE.get_value_from_index(index)
                if percentile:
                    out[percentile] = _ms(_SHAPE.get_highest_equivalent_value(value))
                else:
                    out[percentile] = _ms(_SHAPE.get_lowest_equivalent_value(value))
                pos += 1
            if pos == len(targets):
                break
        return out

    def summary(self) -> Latency:
        if not self.count:
            return Latency()
        values = self.percentiles(PERCENTILES.values())
        by_key = {key: min(values[p], _ms(self._max_us)) for key, p in PERCENTILES.items()}
        return Latency(
            **by_key,
            max=_ms(self._max_us),
            mean=_ms(self._sum_us / self.count),
        )


def _ms(us: float) -> float:
    return round(us / 1000.0, 3)


@dataclass
class Traffic:
    """Requests over a span of time: a phase, an endpoint, a journey."""

    requests: int = 0
    failures: int = 0
    duration_s: float = 0.0
    latency: Latency = field(default_factory=Latency)

    @property
    def error_rate(self) -> float | None:
        """Failures / requests (0..1); None without requests."""
        return round(self.failures / self.requests, 6) if self.requests else None

    @property
    def rps(self) -> float:
        return round(self.requests / self.duration_s, 3) if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "rps": self.rps,
            "latency_ms": self.latency.to_dict(),
        }


# The error of a request the open-loop generator did not send: its cap of
# requests in flight (`load.users`) was reached (meshsim/load/locustfile.py).
# It counts as a request and a failure, and has no latency: nothing was timed.
NOT_SENT = "ConcurrencyCapReached"


def timed(request: RequestRecord) -> bool:
    """Whether the request has a latency (everything but a request not sent)."""
    return request.ok or request.error != NOT_SENT


class _TrafficBuilder:
    def __init__(self) -> None:
        self.recorder = LatencyRecorder()
        self.requests = 0
        self.failures = 0

    def add(self, request: RequestRecord, bucket: int | None = None) -> None:
        """`bucket`: `bucket_of(request.latency_us)` if the caller has it; None
        for a request with no latency (not sent)."""
        if bucket is not None:
            self.recorder.record_at(bucket, request.latency_us)
        self.requests += 1
        self.failures += not request.ok

    def merge(self, other: _TrafficBuilder) -> None:
        self.recorder.merge(other.recorder)
        self.requests += other.requests
        self.failures += other.failures

    def build(self, duration_s: float) -> Traffic:
        return Traffic(self.requests, self.failures, duration_s, latency=self.recorder.summary())


def split_instance(instance: str) -> tuple[str, str] | None:
    """`"product-v2-0"` -> `("product", "v2")`; None for names not in that form."""
    parts = instance.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1]


@dataclass
class CohortStats:
    """The requests of one cohort's shoppers (`load.cohorts`) and who served them."""

    traffic: Traffic
    served: dict[str, dict[str, int]]  # service -> version -> requests, as PhaseStats.served

    def to_dict(self) -> dict[str, Any]:
        return {**self.traffic.to_dict(), "served": self.served}


@dataclass
class PhaseStats:
    """Everything measured in one phase."""

    overall: Traffic
    endpoints: dict[str, Traffic]
    journeys: dict[str, Traffic]
    versions: dict[str, Traffic]  # "order:v1" -> requests that instance version served itself
    served: dict[str, dict[str, int]]  # service -> version -> requests served, incl. upstreams
    status_codes: dict[str, int]
    errors: list[tuple[str, int]]  # most frequent error messages first
    # cohort -> its shoppers' requests; empty when the scenario has no cohorts
    cohorts: dict[str, CohortStats] = field(default_factory=dict)

    def share(self, service: str, version: str) -> float | None:
        """The fraction of `service`'s requests that `version` served."""
        versions = self.served.get(service, {})
        total = sum(versions.values())
        return round(versions.get(version, 0) / total, 6) if total else None


class PhaseStatsBuilder:
    """`PhaseStats` built one request at a time, in any order: what the
    streaming report feeds while it reads the records once. Its memory is
    bounded by the endpoints, journeys, versions, cohorts and error messages
    of the phase, never by its requests.

    `cohorts` (the scenario's cohort names) are listed even without requests;
    a cohort named only in the records follows them. Shoppers in no cohort
    are in no entry of `cohorts`.
    """

    def __init__(self, cohorts: Sequence[str] = ()) -> None:
        self.cohorts = list(cohorts)
        self.overall = _TrafficBuilder()
        self.endpoints: dict[str, _TrafficBuilder] = defaultdict(_TrafficBuilder)
        self.journeys: dict[str, _TrafficBuilder] = defaultdict(_TrafficBuilder)
        self.versions: dict[str, _TrafficBuilder] = defaultdict(_TrafficBuilder)
        self.served: dict[str, Counter[str]] = defaultdict(Counter)
        self.codes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        # each error message's earliest request: ties in `errors` are listed by
        # it, the order a time-sorted pass would have met them in
        self.first_error: dict[str, float] = {}
        self.by_cohort: dict[str, _TrafficBuilder] = {name: _TrafficBuilder() for name in cohorts}
        self.cohort_served: dict[str, dict[str, Counter[str]]] = {name: {} for name in cohorts}

    def add(self, request: RequestRecord) -> None:
        b = bucket_of(request.latency_us) if timed(request) else None
        self.overall.add(request, b)
        self.endpoints[request.name].add(request, b)
        if request.journey:
            self.journeys[request.journey].add(request, b)
        if request.instance and (own := split_instance(request.instance)):
            self.versions[f"{own[0]}:{own[1]}"].add(request, b)
        if request.cohort:
            self.by_cohort.setdefault(request.cohort, _TrafficBuilder()).add(request, b)
        for instance in (request.instance, *request.upstreams):
            if instance and (parsed := split_instance(instance)):
                self.served[parsed[0]][parsed[1]] += 1
                if request.cohort:
                    mine = self.cohort_served.setdefault(request.cohort, {})
                    mine.setdefault(parsed[0], Counter())[parsed[1]] += 1
        self.codes[str(request.status)] += 1
        if not request.ok:
            message = request.error or f"HTTP {request.status}"
            self.errors[message] += 1
            seen = self.first_error.get(message)
            if seen is None or request.t < seen:
                self.first_error[message] = request.t

    def build(self, duration_s: float) -> PhaseStats:
        cohorts = self.cohorts
        ranked = sorted(self.errors.items(), key=lambda kv: (-kv[1], self.first_error[kv[0]]))
        return PhaseStats(
            overall=self.overall.build(duration_s),
            endpoints={k: b.build(duration_s) for k, b in sorted(self.endpoints.items())},
            journeys={k: b.build(duration_s) for k, b in sorted(self.journeys.items())},
            versions={k: b.build(duration_s) for k, b in sorted(self.versions.items())},
            served=_sorted(self.served),
            status_codes=dict(sorted(self.codes.items())),
            errors=ranked[:TOP_ERRORS],
            cohorts={
                name: CohortStats(
                    self.by_cohort[name].build(duration_s), _sorted(self.cohort_served.get(name))
                )
                for name in [*cohorts, *sorted(set(self.by_cohort) - set(cohorts))]
            },
        )


def phase_stats(
    requests: Iterable[RequestRecord], duration_s: float, cohorts: Sequence[str] = ()
) -> PhaseStats:
    """Statistics of the requests of one phase that ran for `duration_s`
    (see `PhaseStatsBuilder`)."""
    builder = PhaseStatsBuilder(cohorts)
    for request in requests:
        builder.add(request)
    return builder.build(duration_s)


def _sorted(served: dict[str, Counter[str]] | None) -> dict[str, dict[str, int]]:
    return {s: dict(sorted(c.items())) for s, c in sorted((served or {}).items())}


@dataclass(frozen=True)
class TimelinePoint:
    """One bucket of the run's time series (for charts)."""

    t_s: float  # bucket start, seconds since the run started
    requests: int
    failures: int
    bucket_s: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def rps(self) -> float:
        return round(self.requests / self.bucket_s, 3)

    @property
    def error_rate(self) -> float | None:
        return round(self.failures / self.requests, 6) if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "t_s": self.t_s,
            "requests": self.requests,
            "failures": self.failures,
            "rps": self.rps,
            "error_rate": self.error_rate,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


class TimeSeriesBuilder:
    """The run's time series built one request at a time, in any order.

    A bucket keeps the latencies of its requests as 4-byte integers (not an
    HdrHistogram each: at 3 significant digits one is ~140 KB, so an hour of
    1 s buckets would take ~500 MB) and turns them into p50/p99 through one
    shared histogram at the end, so the figures are exactly those of a
    histogram per bucket. 1,000,000 requests cost 4 MB here.
    """

    def __init__(self, origin: float, bucket_s: float = 1.0) -> None:
        self.origin = origin
        self.bucket_s = bucket_s
        self._latencies: dict[int, array[int]] = {}
        self._failures: Counter[int] = Counter()
        self._requests: Counter[int] = Counter()

    def add(self, request: RequestRecord) -> None:
        if request.t < self.origin:
            return
        bucket = int((request.t - self.origin) // self.bucket_s)
        values = self._latencies.get(bucket)
        if values is None:
            values = self._latencies[bucket] = array("I")
        if timed(request):
            values.append(min(max(request.latency_us, 0), _U32))
        self._requests[bucket] += 1
        self._failures[bucket] += not request.ok

    def build(self, end: float) -> list[TimelinePoint]:
        """Every bucket from the origin to `end`, empty ones included."""
        bucket_s, origin = self.bucket_s, self.origin
        last = max(math.ceil((end - origin) / bucket_s) - 1, max(self._latencies, default=-1))
        recorder = LatencyRecorder()
        points = []
        for bucket in range(last + 1):
            latencies = self._latencies.get(bucket)
            values: dict[float, float] = {}
            if latencies:
                recorder.reset()
                for latency_us in latencies:
                    recorder.record(latency_us)
                values = recorder.percentiles((50.0, 99.0))
            points.append(
                TimelinePoint(
                    t_s=round(bucket * bucket_s, 3),
                    requests=self._requests[bucket],
                    failures=self._failures[bucket],
                    bucket_s=bucket_s,
                    p50_ms=values.get(50.0),
                    p99_ms=values.get(99.0),
                )
            )
        return points


_U32 = 2**32 - 1


def time_series(
    requests: Iterable[RequestRecord], origin: float, end: float, bucket_s: float = 1.0
) -> list[TimelinePoint]:
    """Per-bucket requests, failures, p50 and p99 from `origin` to `end`.

    Empty buckets are kept (with None latencies) so a chart shows the gap.
    Requests before `origin` are ignored.
    """
    builder = TimeSeriesBuilder(origin, bucket_s)
    for request in requests:
        builder.add(request)
    return builder.build(end)
