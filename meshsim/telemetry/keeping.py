"""Which traces a run keeps on disk: every error, the slowest N per phase and
endpoint, and a uniform sample of the rest (`telemetry.traces` in a scenario).

At 100 % tracing a request costs ~2.9 KB of spans, most of a run directory.
What people open afterwards is a failed request, the slowest ones (the
report's "where the time went" and `meshsim traces` show the slowest of each
phase) and a few ordinary ones to compare with; this keeps those.

The policy runs in the collector as spans arrive, not on the file after the
run: the file then never holds what is dropped (an hour-long run's disk is
bounded while it runs, and an interrupted run has its kept traces on disk),
and memory stays bounded: the traces still open (arrived in the last few
seconds) plus, per phase and endpoint, a heap of the N slowest so far.

A trace is complete when its root span (the ingress's: no parent) has
arrived, plus a grace period: each Envoy sends its spans in its own batches,
flushed every second, so a child span may arrive after its root although it
ended first. A trace whose root never comes (lost with its proxy's batch) is
decided `orphan_s` after its first span, its earliest span standing in for
the root. A span arriving after its trace was decided follows the decision
(kept: written too; dropped: counted), remembered for the last `REMEMBERED`
traces.

Decisions, in order:
1. an error anywhere in the trace (a 5xx or no response on any span, a
   retried failure included) keeps it (`error`), if `keep_errors`;
2. the trace goes into its (phase, endpoint) heap of the `keep_slowest`
   longest; the heaps are written when their phase is over (`slowest`);
3. a trace the heap refuses or later pushes out is kept with probability
   `keep_sample` % (`sample`), drawn when it completed, from a seeded
   generator: a uniform sample of the rest, the same for the same seed.
"""

from __future__ import annotations

import heapq
import random
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

REMEMBERED = 50_000  # decided trace ids kept for late spans (~5 MB)
MAX_ENDPOINTS = 64  # per phase; beyond, endpoints share one heap ("other")
_ID_SEGMENT = re.compile(r"/(?:\d+|[0-9a-fA-F-]{16,})(?=/|$)")


@dataclass(frozen=True)
class KeepPolicy:
    keep_errors: bool = True
    keep_slowest: int = 10  # per phase and endpoint
    keep_sample: float = 10.0  # percent of the rest
    grace_s: float = 3.0  # after the root arrived, for late child spans
    orphan_s: float = 30.0  # a trace without a root is decided this long after its first span
    seed: int = 0

    def describe(self) -> str:
        parts = ["every error"] if self.keep_errors else []
        parts.append(f"the {self.keep_slowest} slowest per phase and endpoint")
        parts.append(f"{self.keep_sample:g} % of the rest")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep_errors": self.keep_errors,
            "keep_slowest": self.keep_slowest,
            "keep_sample": self.keep_sample,
            "described": self.describe(),
        }


def endpoint(method: str, url_path: str) -> str:
    """`GET /products/3/stock?x=1` -> `GET /products/*/stock`: ids folded so
    that endpoints, and the heaps kept per endpoint, stay few."""
    path = url_path.split("?", 1)[0]
    return f"{method} {_ID_SEGMENT.sub('/*', path)}".strip()


def is_error(span: dict[str, Any]) -> bool:
    """A Zipkin span of Envoy's that failed: a 5xx, no response, or tagged error."""
    tags = span.get("tags") or {}
    if not isinstance(tags, dict):
        return False
    if tags.get("error") == "true":
        return True
    code = str(tags.get("http.status_code", ""))
    return not code.isdigit() or int(code) >= 500


@dataclass
class _Open:
    """A trace still collecting spans."""

    first_at: float  # monotonic, when its first span arrived
    spans: list[dict[str, Any]] = field(default_factory=list)
    root: dict[str, Any] | None = None
    root_at: float | None = None


@dataclass(order=True)
class _Held:
    duration_us: int
    start_us: int  # a tie goes to the earlier start (its negation heads the heap)
    trace_id: str = field(compare=False)
    spans: list[dict[str, Any]] = field(compare=False)
    sampled: bool = field(compare=False)


@dataclass
class Counts:
    seen: int = 0
    error: int = 0
    slowest: int = 0
    sample: int = 0
    dropped: int = 0
    late_spans_kept: int = 0
    late_spans_dropped: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "kept": self.error + self.slowest + self.sample,
            "kept_error": self.error,
            "kept_slowest": self.slowest,
            "kept_sample": self.sample,
            "dropped": self.dropped,
            "late_spans_kept": self.late_spans_kept,
            "late_spans_dropped": self.late_spans_dropped,
        }


class TraceKeeper:
    """Feed it spans (`add`), tell it when phases start (`phase_started`),
    call `sweep` every second or so; each returns the spans to write, grouped
    a list per trace. `close` decides everything still open."""

    def __init__(self, policy: KeepPolicy) -> None:
        self.policy = policy
        self.counts = Counts()
        self._rng = random.Random(policy.seed)
        self._open: dict[str, _Open] = {}
        self._decided: OrderedDict[str, bool] = OrderedDict()  # trace id -> kept
        # phase starts, epoch seconds; index 0 is "before the first phase"
        self._phase_starts: list[float] = [float("-inf")]
        self._phase_ended_at: dict[int, float] = {}  # phase index -> monotonic end
        self._heaps: dict[tuple[int, str], list[_Held]] = {}
        self._held: dict[str, _Held] = {}  # the traces in the heaps, by id
        self._endpoints: dict[int, set[str]] = {}
        self._flushed: set[int] = set()

    def phase_started(self, epoch_s: float, now: float) -> None:
        self._phase_ended_at[len(self._phase_starts) - 1] = now
        self._phase_starts.append(epoch_s)

    def add(self, spans: list[dict[str, Any]], now: float) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        for span in spans:
            trace_id = span.get("traceId")
            if not isinstance(trace_id, str) or not trace_id:
                continue
            held = self._held.get(trace_id)
            if held is not None:  # among the slowest so far: waits with its trace
                held.spans.append(span)
                continue
            decided = self._decided.get(trace_id)
            if decided is not None:
                if decided:
                    self.counts.late_spans_kept += 1
                    out.append([span])
                else:
                    self.counts.late_spans_dropped += 1
                continue
            entry = self._open.get(trace_id)
            if entry is None:
                entry = self._open[trace_id] = _Open(now)
            entry.spans.append(span)
            if not span.get("parentId") and entry.root is None:
                entry.root, entry.root_at = span, now
        return out

    def sweep(self, now: float) -> list[list[dict[str, Any]]]:
        """Decide the traces complete by now; write the heaps of phases over."""
        out: list[list[dict[str, Any]]] = []
        done = [
            trace_id
            for trace_id, entry in self._open.items()
            if (entry.root_at is not None and now - entry.root_at >= self.policy.grace_s)
            or now - entry.first_at >= self.policy.orphan_s
        ]
        for trace_id in done:
            self._decide(trace_id, self._open.pop(trace_id), out)
        for index, ended in list(self._phase_ended_at.items()):
            # its last traces are decided grace_s after their roots arrived
            if index not in self._flushed and now - ended >= 2 * self.policy.grace_s:
                self._flush_phase(index, out)
        return out

    def close(self) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        for trace_id in list(self._open):
            self._decide(trace_id, self._open.pop(trace_id), out)
        for index in range(len(self._phase_starts)):
            self._flush_phase(index, out)
        return out

    def _phase_of(self, start_us: int) -> int:
        t = start_us / 1e6
        index = 0
        for i, start in enumerate(self._phase_starts):
            if t >= start:
                index = i
        return index

    def _decide(self, trace_id: str, entry: _Open, out: list[list[dict[str, Any]]]) -> None:
        self.counts.seen += 1
        spans = entry.spans
        root = entry.root or min(spans, key=_start)
        sampled = self._rng.random() * 100 < self.policy.keep_sample
        if self.policy.keep_errors and any(is_error(s) for s in spans):
            self.counts.error += 1
            self._remember(trace_id, True)
            out.append(spans)
            return
        start = _start(root)
        held = _Held(_duration(root), -start, trace_id, spans, sampled)
        phase = self._phase_of(start)
        n = self.policy.keep_slowest
        if n <= 0 or phase in self._flushed:
            self._rest(held, out)
            return
        heap = self._heaps.setdefault((phase, self._endpoint_key(phase, root)), [])
        self._held[trace_id] = held
        if len(heap) < n:
            heapq.heappush(heap, held)
            return
        self._rest(heapq.heappushpop(heap, held), out)

    def _endpoint_key(self, phase: int, root: dict[str, Any]) -> str:
        tags = root.get("tags") or {}
        url = str(tags.get("http.url", "")) if isinstance(tags, dict) else ""
        path = re.sub(r"^[a-z]+://[^/]*", "", url) or "/"
        key = endpoint(str(tags.get("http.method", "")) if isinstance(tags, dict) else "", path)
        seen = self._endpoints.setdefault(phase, set())
        if key not in seen and len(seen) >= MAX_ENDPOINTS:
            return "other"
        seen.add(key)
        return key

    def _rest(self, held: _Held, out: list[list[dict[str, Any]]]) -> None:
        """Not (or no longer) among the slowest: the sample decides."""
        self._held.pop(held.trace_id, None)
        self._remember(held.trace_id, held.sampled)
        if held.sampled:
            self.counts.sample += 1
            out.append(held.spans)
        else:
            self.counts.dropped += 1

    def _flush_phase(self, index: int, out: list[list[dict[str, Any]]]) -> None:
        self._flushed.add(index)
        for key in [k for k in self._heaps if k[0] == index]:
            for held in self._heaps.pop(key):
                self._held.pop(held.trace_id, None)
                self.counts.slowest += 1
                self._remember(held.trace_id, True)
                out.append(held.spans)
        self._endpoints.pop(index, None)

    def _remember(self, trace_id: str, kept: bool) -> None:
        self._decided[trace_id] = kept
        self._decided.move_to_end(trace_id)
        while len(self._decided) > REMEMBERED:
            self._decided.popitem(last=False)


def _start(span: dict[str, Any]) -> int:
    try:
        return int(span.get("timestamp") or 0)
    except (TypeError, ValueError):
        return 0


def _duration(span: dict[str, Any]) -> int:
    try:
        return int(span.get("duration") or 0)
    except (TypeError, ValueError):
        return 0
