"""Per-second buckets of what a run measured, built as its files grow.

The dashboard keeps one small cell per second (and per edge), never one entry
per request, so its memory grows with the run's length and its graph, not with
its load: an hour of a six-edge mesh is ~25,000 cells.

- `RequestSeconds`: the load's requests (records/) per second: count,
  failures, p50 and p99. A second's latencies are kept (4 bytes each) while
  records for it may still come, then turned into p50/p99 with the report's
  `LatencyRecorder` and dropped.
- `EdgeSeconds`: each caller → callee edge per second, from the deltas of
  consecutive `/stats/prometheus` scrapes in metrics.jsonl (a scrape covers
  the seconds since the proxy's previous one and lands in the second it was
  taken): requests, 5xx, and Envoy's `upstream_rq_time` histogram.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from meshsim.load.records import RequestRecord
from meshsim.report.stats import LatencyRecorder, timed
from meshsim.telemetry.edges import latency_summary, split
from meshsim.telemetry.envoy_stats import counter_delta, parse_cluster
from meshsim.telemetry.prometheus import Buckets, ProxyMetrics

# Records for a second may come this long after the newest one read (Locust
# writes each request as it ends, several workers each to their own file).
CLOSE_AFTER_S = 10
_U32 = 2**32 - 1


class RequestSeconds:
    """The load's requests per second since `origin` (epoch seconds)."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.requests: dict[int, int] = {}
        self.failures: dict[int, int] = {}
        self._open: dict[int, array[int]] = {}
        self._closed: dict[int, tuple[float | None, float | None]] = {}
        self._recorder = LatencyRecorder()
        self.newest = -1  # the latest second a record fell in

    def add(self, record: RequestRecord) -> None:
        if record.t < self.origin:
            return
        second = int(record.t - self.origin)
        self.requests[second] = self.requests.get(second, 0) + 1
        if not record.ok:
            self.failures[second] = self.failures.get(second, 0) + 1
        # a late record of a closed second counts, its latency no longer does
        if timed(record) and second not in self._closed:
            values = self._open.get(second)
            if values is None:
                values = self._open[second] = array("I")
            values.append(min(max(record.latency_us, 0), _U32))
        self.newest = max(self.newest, second)

    def close(self, everything: bool = False) -> None:
        """Turn seconds no more records are expected for into p50/p99."""
        for second in sorted(self._open):
            if not everything and second > self.newest - CLOSE_AFTER_S:
                break
            self._closed[second] = self._percentiles(self._open.pop(second))

    def _percentiles(self, latencies: array[int]) -> tuple[float | None, float | None]:
        if not latencies:
            return None, None
        self._recorder.reset()
        for value in latencies:
            self._recorder.record(value)
        got = self._recorder.percentiles((50.0, 99.0))
        return got.get(50.0), got.get(99.0)

    def points(self, until_s: float) -> list[dict[str, Any]]:
        """One point per second from 0 to `until_s` (empty seconds included)."""
        out = []
        for second in range(max(0, int(until_s)) + 1):
            if second > until_s:
                break
            requests = self.requests.get(second, 0)
            failures = self.failures.get(second, 0)
            if second in self._closed:
                p50, p99 = self._closed[second]
            elif second in self._open:
                p50, p99 = self._percentiles(self._open[second])
            else:
                p50 = p99 = None
            out.append(
                {
                    "t": float(second),
                    "requests": requests,
                    "rps": float(requests),
                    "error_rate": round(failures / requests, 6) if requests else None,
                    "p50_ms": p50,
                    "p99_ms": p99,
                }
            )
        return out


@dataclass
class _Cell:
    requests: int = 0
    errors: int = 0
    rq_4xx: int = 0
    latency: Buckets | None = None


@dataclass
class EdgeSeconds:
    """Caller → callee traffic per second, from consecutive scrapes of each proxy."""

    cells: dict[tuple[str, str], dict[int, _Cell]] = field(default_factory=dict)
    _previous: dict[str, ProxyMetrics] = field(default_factory=dict)

    def add_scrape(
        self,
        second: int,
        proxy: str,
        source: str,
        metrics: ProxyMetrics,
        caller_faults: dict[str, int | None] | None = None,
    ) -> None:
        """One scrape of `proxy` (whose calls are `source`'s), taken at `second`.
        The first scrape of a proxy is cumulative since Envoy started: it only
        sets where the next one counts from.

        `caller_faults` (destination → abort status, from the proxy's routes in
        force): a fault aborted in the caller's own sidecar never reaches a
        cluster, so it is added to the edge's requests (and errors for a 5xx),
        as `telemetry.edges.build_edges` does for edges.json."""
        before = self._previous.get(proxy)
        self._previous[proxy] = metrics
        if before is None:
            return
        sent: dict[str, int] = {}
        for cluster, counters in metrics.clusters.items():
            parsed = parse_cluster(cluster)
            if parsed is None:
                continue
            then = before.clusters.get(cluster, {})
            requests = counter_delta(then, counters, "requests")
            errors = counter_delta(then, counters, "rq_5xx")
            rq_4xx = counter_delta(then, counters, "rq_4xx")
            hist = metrics.latency.get(cluster)
            delta = hist.delta(before.latency.get(cluster)) if hist is not None else None
            if not (requests or errors or rq_4xx or (delta and delta.count)):
                continue
            sent[parsed[2]] = sent.get(parsed[2], 0) + requests
            cell = self.cells.setdefault((source, parsed[2]), {}).setdefault(second, _Cell())
            cell.requests += requests
            cell.errors += errors
            cell.rq_4xx += rq_4xx
            if delta is not None and delta.count:
                cell.latency = delta if cell.latency is None else cell.latency.merge(delta)
        aborted = counter_delta(
            before.faults.get("outbound", {}), metrics.faults.get("outbound", {}), "aborted"
        )
        if aborted and caller_faults:
            dests = sorted(caller_faults)
            for dest, count in zip(
                dests, split(aborted, [sent.get(d, 0) for d in dests]), strict=True
            ):
                cell = self.cells.setdefault((source, dest), {}).setdefault(second, _Cell())
                cell.requests += count
                status = caller_faults[dest]
                if status is not None and status >= 500:
                    cell.errors += count

    def window(self, start_s: float, end_s: float) -> list[dict[str, Any]]:
        """Each edge's traffic over the seconds in (start_s, end_s], as the
        edges of edges.json look (what `topology.observed_graph` reads)."""
        span = max(end_s - start_s, 1e-9)
        out = []
        for (source, dest), seconds in sorted(self.cells.items()):
            total = _Cell()
            for second, cell in seconds.items():
                if start_s < second <= end_s:
                    total.requests += cell.requests
                    total.errors += cell.errors
                    total.rq_4xx += cell.rq_4xx
                    if cell.latency is not None:
                        total.latency = (
                            cell.latency
                            if total.latency is None
                            else total.latency.merge(cell.latency)
                        )
            summary = latency_summary(total.latency)
            out.append(
                {
                    "source": source,
                    "destination": dest,
                    "destination_version": None,
                    "requests": total.requests,
                    "errors": total.errors,
                    "rq_4xx": total.rq_4xx,
                    "rps": round(total.requests / span, 3),
                    "error_rate": round(total.errors / total.requests, 6)
                    if total.requests
                    else None,
                    "p99_ms": summary["p99"] if summary else None,
                    "latency_histogram": total.latency.to_json()
                    if total.latency is not None and total.latency.count
                    else None,
                }
            )
        return out
