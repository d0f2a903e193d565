"""The slowest traces of each phase, read from `traces.jsonl` in bounded memory.

A traces file holds every span of the run (~2.9 KB a request); assembling all
of them into trees, as `meshsim traces` does for one phase, would hold the
whole file. The report only needs, per phase, how many traces started in it
and the trees of its slowest few, so it reads the file twice:

1. every root span (one without a parent: the ingress's, where a request
   entered the mesh) is counted in the phase its start falls in, and a heap
   per phase keeps the `n` longest (a tie goes to the earlier start);
2. the spans of those traces, and only those, are gathered and assembled.

Memory: phases x n traces' spans, whatever the run's length. What this
counts differs from assembling everything in one case only: a trace whose
root span never reached the collector (its proxy's batch was lost) is not
counted, as it has no root to time it by; and a root span a proxy sent
twice is counted twice (`read_spans` drops repeats by remembering every
span, which is what this module must not do).
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from meshsim import rundata
from meshsim.telemetry.traces import Span, Trace, assemble, span_from_zipkin

# (key, start, end) of a phase window, epoch seconds; `key` names it in the answer
Window = tuple[int, float, float]


class _Head(msgspec.Struct, gc=False):
    """The few fields of a span the passes look at. msgspec skips the rest
    of it (its tags: most of its ~700 bytes) without building them, which is
    what makes reading every batch of the file affordable (docs/benchmarks.md,
    "Report build"). Absent fields are UNSET, as `_root` must tell them from null."""

    traceId: Any = msgspec.UNSET  # Zipkin v2 names
    id: Any = msgspec.UNSET
    parentId: Any = None
    timestamp: Any = msgspec.UNSET
    duration: Any = None


_HEADS = msgspec.json.Decoder(list[_Head] | _Head)


def _lines(path: Path) -> Iterator[bytes]:
    """The file's complete lines: traces.jsonl.gz and/or traces.jsonl (`meshsim.rundata`)."""
    return rundata.iter_lines(path)


def _heads(line: bytes) -> list[_Head]:
    """The spans of one line (a batch, or one span). A line msgspec does not
    take whole (a cut last line, an item that is no object) is read by
    `json.loads` as it always was: cut lines skipped, non-objects dropped."""
    try:
        decoded = _HEADS.decode(line)
    except msgspec.DecodeError:
        try:
            raw = json.loads(line)
        except ValueError:
            return []  # a cut last line
        return [
            _Head(
                item.get("traceId", msgspec.UNSET),
                item.get("id", msgspec.UNSET),
                item.get("parentId"),
                item.get("timestamp", msgspec.UNSET),
                item.get("duration"),
            )
            for item in (raw if isinstance(raw, list) else [raw])
            if isinstance(item, dict)
        ]
    return decoded if isinstance(decoded, list) else [decoded]


def _items(line: bytes) -> list[dict[str, Any]]:
    """Each span object of a line, whole."""
    try:
        raw = json.loads(line)
    except ValueError:
        return []
    return [item for item in (raw if isinstance(raw, list) else [raw]) if isinstance(item, dict)]


def _root(head: _Head) -> tuple[str, int, int] | None:
    """(trace id, start, duration) of a span, or None where `span_from_zipkin`
    would find no span: the little of it the first pass needs, cheaply."""
    if head.id is msgspec.UNSET or head.traceId is msgspec.UNSET:
        return None
    try:
        return str(head.traceId), int(head.timestamp), int(head.duration or 0)
    except (TypeError, ValueError):
        return None


def _locator(windows: Sequence[Window]) -> Callable[[float], int | None]:
    """`t` -> the key of the first window holding it (start inclusive, end
    exclusive), as the report has always placed traces. Called once per
    root span: for windows in order that do not overlap (a run's phases)
    the one holding `t` is found by bisection, else by trying each."""
    ordered = all(a[1] <= a[2] <= b[1] for a, b in zip(windows, windows[1:], strict=False)) and all(
        w[1] <= w[2] for w in windows
    )
    starts = [start for _, start, _ in windows]

    def bisected(t: float) -> int | None:
        pos = bisect.bisect_right(starts, t) - 1
        if pos < 0:
            return None
        key, start, end = windows[pos]
        return key if start <= t < end else None

    def linear(t: float) -> int | None:
        for key, start, end in windows:
            if start <= t < end:
                return key
        return None

    return bisected if ordered else linear


def slowest_traces(
    path: Path, windows: Sequence[Window], n: int
) -> dict[int, tuple[int, list[Trace]]]:
    """Per window key: (traces whose root started in it, its `n` slowest
    traces, assembled, by start time). Windows without traces are absent;
    so is everything when there is no traces file."""
    if not rundata.exists(path) or not windows:
        return {}
    counts: dict[int, int] = {}
    # min-heaps of (duration_us, -start_us, trace_id): the root is the shortest kept
    heaps: dict[int, list[tuple[int, int, str]]] = {}
    kept: dict[int, set[str]] = {}  # the trace ids in each heap
    window_of = _locator(windows)
    for head in (head for line in _lines(path) for head in _heads(line)):
        if head.parentId:
            continue
        root = _root(head)
        if root is None:
            continue
        trace_id, start_us, duration_us = root
        key = window_of(start_us / 1e6)
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        heap = heaps.setdefault(key, [])
        ids = kept.setdefault(key, set())
        entry = (duration_us, -start_us, trace_id)
        if len(heap) < n:
            if trace_id in ids:
                continue  # the same root sent twice: keep one
            heapq.heappush(heap, entry)
            ids.add(trace_id)
        elif entry > heap[0] and trace_id not in ids:
            ids.discard(heapq.heapreplace(heap, entry)[2])
            ids.add(trace_id)

    chosen = {trace_id: key for key, heap in heaps.items() for _, _, trace_id in heap}
    spans: list[Span] = []
    seen: set[tuple[str, str]] = set()
    for line in _lines(path) if chosen else ():
        line_ids = [h.traceId if type(h.traceId) is str else str(h.traceId) for h in _heads(line)]
        if chosen.keys().isdisjoint(line_ids):
            continue  # the common case: a batch of none of the slowest traces
        for item in _items(line):
            if str(item.get("traceId")) not in chosen:
                continue
            span = span_from_zipkin(item)
            if span is None or (span.trace_id, span.span_id) in seen:
                continue
            seen.add((span.trace_id, span.span_id))
            spans.append(span)
    out: dict[int, tuple[int, list[Trace]]] = {key: (count, []) for key, count in counts.items()}
    for trace in assemble(spans):
        out[chosen[trace.trace_id]][1].append(trace)
    return out
