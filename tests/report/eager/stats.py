"""Statistics over recorded requests: counts, rates, latency percentiles.

Percentiles come from HdrHistogram over microseconds (3 significant digits,
1 µs .. 60 s), reported in milliseconds with 3 decimals; `max` and `mean` are
exact. Every request counts towards latency, failed or not, as in Locust: a
fast 503 is still a response the shopper waited for.
"""

from __future__ import annotations

import math
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


class LatencyRecorder:
    """Collects latencies in µs; `summary(...)` turns them into a `Latency`."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self.count = 0
        self._sum_us = 0
        self._max_us = 0

    def record(self, latency_us: int) -> None:
        # Out-of-range values are clamped rather than lost: a 0 µs or a 2 min
        # response is still one request at the edge of what we can measure.
        self._histogram.record_value(min(max(latency_us, LOWEST_US), HIGHEST_US))
        self.count += 1
        self._sum_us += latency_us
        self._max_us = max(self._max_us, latency_us)

    def percentiles(self, wanted: Iterable[float]) -> dict[float, float]:
        """Percentile -> milliseconds (one pass over the histogram)."""
        if not self.count:
            return {}
        values = self._histogram.get_percentile_to_value_dict(list(wanted))
        return {p: _ms(v) for p, v in values.items()}

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


class _TrafficBuilder:
    def __init__(self) -> None:
        self.recorder = LatencyRecorder()
        self.failures = 0

    def add(self, request: RequestRecord) -> None:
        self.recorder.record(request.latency_us)
        self.failures += not request.ok

    def build(self, duration_s: float) -> Traffic:
        return Traffic(
            self.recorder.count, self.failures, duration_s, latency=self.recorder.summary()
        )


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


def phase_stats(
    requests: Sequence[RequestRecord], duration_s: float, cohorts: Sequence[str] = ()
) -> PhaseStats:
    """Statistics of the requests of one phase that ran for `duration_s`.

    `cohorts` (the scenario's cohort names) are listed even without requests;
    a cohort named only in the records follows them. Shoppers in no cohort
    are in no entry of `cohorts`.
    """
    overall = _TrafficBuilder()
    endpoints: dict[str, _TrafficBuilder] = defaultdict(_TrafficBuilder)
    journeys: dict[str, _TrafficBuilder] = defaultdict(_TrafficBuilder)
    versions: dict[str, _TrafficBuilder] = defaultdict(_TrafficBuilder)
    served: dict[str, Counter[str]] = defaultdict(Counter)
    codes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    by_cohort: dict[str, _TrafficBuilder] = {name: _TrafficBuilder() for name in cohorts}
    cohort_served: dict[str, dict[str, Counter[str]]] = {name: {} for name in cohorts}
    for request in requests:
        overall.add(request)
        endpoints[request.name].add(request)
        if request.journey:
            journeys[request.journey].add(request)
        if request.instance and (own := split_instance(request.instance)):
            versions[f"{own[0]}:{own[1]}"].add(request)
        if request.cohort:
            by_cohort.setdefault(request.cohort, _TrafficBuilder()).add(request)
        for instance in (request.instance, *request.upstreams):
            if instance and (parsed := split_instance(instance)):
                served[parsed[0]][parsed[1]] += 1
                if request.cohort:
                    mine = cohort_served.setdefault(request.cohort, {})
                    mine.setdefault(parsed[0], Counter())[parsed[1]] += 1
        codes[str(request.status)] += 1
        if not request.ok:
            errors[request.error or f"HTTP {request.status}"] += 1
    return PhaseStats(
        overall=overall.build(duration_s),
        endpoints={k: b.build(duration_s) for k, b in sorted(endpoints.items())},
        journeys={k: b.build(duration_s) for k, b in sorted(journeys.items())},
        versions={k: b.build(duration_s) for k, b in sorted(versions.items())},
        served=_sorted(served),
        status_codes=dict(sorted(codes.items())),
        errors=errors.most_common(TOP_ERRORS),
        cohorts={
            name: CohortStats(by_cohort[name].build(duration_s), _sorted(cohort_served.get(name)))
            for name in [*cohorts, *sorted(set(by_cohort) - set(cohorts))]
        },
    )


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


def time_series(
    requests: Iterable[RequestRecord], origin: float, end: float, bucket_s: float = 1.0
) -> list[TimelinePoint]:
    """Per-bucket requests, failures, p50 and p99 from `origin` to `end`.

    Empty buckets are kept (with None latencies) so a chart shows the gap.
    Requests before `origin` are ignored.
    """
    recorders: dict[int, LatencyRecorder] = defaultdict(LatencyRecorder)
    failures: Counter[int] = Counter()
    for request in requests:
        if request.t < origin:
            continue
        bucket = int((request.t - origin) // bucket_s)
        recorders[bucket].record(request.latency_us)
        failures[bucket] += not request.ok
    last = max(math.ceil((end - origin) / bucket_s) - 1, max(recorders, default=-1))
    points = []
    for bucket in range(last + 1):
        recorder = recorders.get(bucket)
        values = recorder.percentiles((50.0, 99.0)) if recorder else {}
        points.append(
            TimelinePoint(
                t_s=round(bucket * bucket_s, 3),
                requests=recorder.count if recorder else 0,
                failures=failures[bucket],
                bucket_s=bucket_s,
                p50_ms=values.get(50.0),
                p99_ms=values.get(99.0),
            )
        )
    return points
