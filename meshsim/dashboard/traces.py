"""The slowest recent requests, from traces.jsonl (or its gzip form) as it grows.

Spans of one trace come from several proxies, each flushing about once a
second, the root (the ingress's) last. A trace is put together once its
root is in and GRACE_S more of the file has gone by, with the telemetry's own
`assemble` and `waterfall`; only the KEEP slowest of each BUCKET_S-second
bucket are kept, with their spans. So memory holds the traces still
arriving and a handful per ten seconds, whatever the run's length or load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim import rundata
from meshsim.telemetry.traces import Span, Trace, assemble, span_from_zipkin, waterfall

BUCKET_S = 10
KEEP = 5
GRACE_S = 3.0  # a root's children may be flushed this long after it
PENDING_MAX = 20_000  # traces still arriving; beyond it the oldest are put together early
ROWS = 40  # spans shown per trace


class SlowTraces:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._at = 0  # offset in traces.jsonl
        self._gz_at = 0  # in traces.jsonl.gz, should the run have compressed it
        self._pending: dict[str, list[Span]] = {}
        self._newest_us = 0
        self.buckets: dict[int, list[Trace]] = {}
        self.origin: float | None = None  # epoch seconds of the run's 0 s

    def poll(self, everything: bool = False) -> None:
        """Read the new complete lines; `everything`: the run is over, put
        together what is still pending."""
        compressed = rundata.gz_path(self.path)
        lines = b""
        if compressed.is_file():  # whole gzip members only (meshsim.rundata)
            try:
                lines, self._gz_at = rundata.read_members(compressed, self._gz_at)
            except OSError:
                lines = b""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._at)
                data = fh.read()
        except OSError:
            data = b""
        end = data.rfind(b"\n") + 1
        self._at += end
        for line in (lines + b"\n" + data[:end]).splitlines():
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            for item in raw if isinstance(raw, list) else [raw]:
                span = span_from_zipkin(item) if isinstance(item, dict) else None
                if span is not None:
                    self._pending.setdefault(span.trace_id, []).append(span)
                    self._newest_us = max(self._newest_us, span.end_us)
        self._finish(everything)

    def _finish(self, everything: bool) -> None:
        horizon = self._newest_us - int(GRACE_S * 1e6)
        done = []
        for trace_id, spans in self._pending.items():
            roots = [s for s in spans if s.parent_id is None]
            if everything or (roots and max(s.end_us for s in roots) <= horizon):
                done.append(trace_id)
        if len(self._pending) - len(done) > PENDING_MAX:
            oldest = sorted(self._pending, key=lambda k: min(s.start_us for s in self._pending[k]))
            done += oldest[: len(self._pending) - PENDING_MAX]
        for trace_id in set(done):
            self._keep(assemble(self._pending.pop(trace_id)))

    def _keep(self, traces: list[Trace]) -> None:
        for trace in traces:
            if self.origin is None:
                continue
            bucket = int((trace.start_us / 1e6 - self.origin) // BUCKET_S)
            kept = self.buckets.setdefault(bucket, [])
            kept.append(trace)
            kept.sort(key=lambda t: -t.duration_ms)
            del kept[KEEP:]

    def slowest(self, t: float, window_s: float = 30.0, limit: int = KEEP) -> list[dict[str, Any]]:
        """The `limit` slowest traces that started in the `window_s` seconds
        before `t` (seconds since the run started) and ended by then."""
        if self.origin is None:
            return []
        found = []
        for bucket in range(int((t - window_s) // BUCKET_S), int(t // BUCKET_S) + 1):
            for trace in self.buckets.get(bucket, []):
                start = trace.start_us / 1e6 - self.origin
                if t - window_s <= start and start + trace.duration_ms / 1000 <= t:
                    found.append(trace)
        found.sort(key=lambda tr: -tr.duration_ms)
        return [self._shown(tr) for tr in found[:limit]]

    def _shown(self, trace: Trace) -> dict[str, Any]:
        assert self.origin is not None
        return {
            "trace_id": trace.trace_id,
            "name": trace.name,
            "status": trace.status,
            "duration_ms": round(trace.duration_ms, 3),
            "start_s": round(trace.start_us / 1e6 - self.origin, 3),
            "services": trace.services,
            "spans": [
                {
                    "depth": row.depth,
                    "label": row.span.label,
                    "name": row.span.name,
                    "status": row.span.status,
                    "offset_ms": round(row.offset_ms, 3),
                    "duration_ms": round(row.duration_ms, 3),
                    "critical": row.critical,
                }
                for row in waterfall(trace)[:ROWS]
            ],
        }
