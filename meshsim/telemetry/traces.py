"""Traces from the spans the proxies sent (`traces.jsonl`): trees, critical paths,
waterfalls and Jaeger's JSON. Pure.

Every proxy makes one span per request it handles (`meshsim.control.observe`):
the ingress a SERVER span (`direction` ingress), each sidecar a SERVER span
for a call it receives (inbound) and a CLIENT span for a call its app makes
(outbound). Spans are not shared between hops, so a POST /orders is the tree::

    istio-ingressgateway  POST /orders                       (root)
    └─ order              inbound                            (parent: the ingress span)
       ├─ order → user    outbound GET /users/1              (parent: order inbound; the app
       │  └─ user         inbound                             forwarded the B3 headers)
       ├─ order → product outbound GET /products/3/stock
       │  └─ product      inbound
       └─ order → shipping ...

The **critical path** of a trace is the chain of work that decided its
duration: walking back from the root's end, the child that finished last,
then (from that child's start) the one that finished last before it, and so
on, recursively; what is left of a span between the children on the path is
its **self time**. Summed per service over the slowest traces of a phase it
says where the time went (`critical_path_summary`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshsim import rundata
from meshsim.rundir import RunDir
from meshsim.timeline import PhaseLookup, phase_windows

SLOWEST = 10  # traces per phase whose critical paths the report sums


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str  # SERVER | CLIENT
    start_us: int
    duration_us: int
    service: str  # the proxy's service (istio-ingressgateway for the ingress)
    proxy: str  # the instance, e.g. order-v1-0
    direction: str  # ingress | inbound | outbound
    method: str
    path: str
    status: int | None
    flags: str  # Envoy's response flags, "-" for none
    peer: str | None  # outbound/ingress: the service called; inbound: the caller
    tags: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}".strip() or "?"

    @property
    def label(self) -> str:
        """Where the span ran: `order`, `order → product`, `istio-ingressgateway → order`."""
        if self.direction in ("outbound", "ingress") and self.peer:
            return f"{self.service} → {self.peer}"
        return self.service

    @property
    def error(self) -> bool:
        return self.status is None or self.status >= 500 or self.tags.get("error") == "true"


def _service_of_cluster(name: str | None) -> str | None:
    """`outbound|80|v1|product.default.svc.cluster.local` or `outbound_80_v1_product` → product."""
    if not name or name == "-":
        return None
    if "|" in name:
        return name.split("|")[3].split(".", 1)[0] or None
    return name.rsplit("_", 1)[-1] or None


def span_from_zipkin(raw: dict[str, Any]) -> Span | None:
    """One Zipkin v2 span as Envoy sends it, or None if it is not one."""
    try:
        trace_id, span_id = str(raw["traceId"]), str(raw["id"])
        start, duration = int(raw["timestamp"]), int(raw.get("duration") or 0)
    except (KeyError, TypeError, ValueError):
        return None
    tags = {str(k): str(v) for k, v in (raw.get("tags") or {}).items()}
    endpoint = raw.get("localEndpoint") or {}
    service = str(endpoint.get("serviceName") or tags.get("node_id", "?").split(".", 1)[0])
    direction = tags.get("meshsim.direction") or (
        "outbound" if raw.get("kind") == "CLIENT" else "inbound"
    )
    url = urlsplit(tags.get("http.url", ""))
    path = url.path + (f"?{url.query}" if url.query else "")
    if direction == "inbound":
        peer = tags.get("downstream_cluster")
        peer = None if peer in (None, "-", "") else peer
    else:
        peer = _service_of_cluster(tags.get("upstream_cluster"))
    code = tags.get("http.status_code", "")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=str(raw["parentId"]) if raw.get("parentId") else None,
        kind=str(raw.get("kind") or ""),
        start_us=start,
        duration_us=duration,
        service=service,
        proxy=tags.get("meshsim.proxy", service),
        direction=direction,
        method=tags.get("http.method", ""),
        path=path,
        status=int(code) if code.isdigit() else None,
        flags=tags.get("response_flags", "-"),
        peer=peer,
        tags=tags,
    )


def read_spans(path: Path) -> list[Span]:
    """Every span of a traces.jsonl: a line is a batch (a JSON array, as the
    collector writes them) or one span. Unreadable lines are skipped (a cut
    last line), repeats dropped."""
    seen: set[tuple[str, str]] = set()
    out = []
    for line in rundata.iter_lines(path):  # traces.jsonl.gz and/or traces.jsonl
        try:
            raw = json.loads(line.decode("utf-8", errors="replace"))
        except ValueError:
            continue
        for item in raw if isinstance(raw, list) else [raw]:
            span = span_from_zipkin(item) if isinstance(item, dict) else None
            if span is None or (span.trace_id, span.span_id) in seen:
                continue
            seen.add((span.trace_id, span.span_id))
            out.append(span)
    return out


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]  # by start time
    root: Span
    _children: dict[str, list[Span]] = field(default_factory=dict, repr=False)

    @property
    def start_us(self) -> int:
        return self.root.start_us

    @property
    def duration_ms(self) -> float:
        return self.root.duration_us / 1000

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def status(self) -> int | None:
        return self.root.status

    @property
    def services(self) -> list[str]:
        return sorted({s.service for s in self.spans})

    def children(self, span: Span) -> list[Span]:
        return self._children.get(span.span_id, [])


def assemble(spans: Iterable[Span]) -> list[Trace]:
    """Group spans into traces, each with its tree, ordered by start time.

    The root is the span without a parent in the trace (the earliest, should
    spans have been lost); a span whose parent is missing hangs from the root.
    """
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    traces = []
    for trace_id, members in by_trace.items():
        members.sort(key=lambda s: (s.start_us, -s.duration_us))
        ids = {s.span_id for s in members}
        orphans = [s for s in members if s.parent_id is None or s.parent_id not in ids]
        root = orphans[0]
        children: dict[str, list[Span]] = defaultdict(list)
        for s in members:
            if s is root:
                continue
            parent = s.parent_id if s.parent_id in ids else root.span_id
            children[parent].append(s)
        traces.append(Trace(trace_id, members, root, dict(children)))
    traces.sort(key=lambda t: t.start_us)
    return traces


# ------------------------------------------------------------- critical path


@dataclass(frozen=True)
class Segment:
    """A span on the critical path and the time it spent there itself."""

    span: Span
    self_us: int


def critical_path(trace: Trace) -> list[Segment]:
    """The spans on the critical path, in time order (the root first), with
    their self time. A root from 0 to 40 ms with concurrent children a (1-5)
    and b (1-6), then c (8-38): the path is root, b, c; the root's self time
    is 1 + 2 + 2 = 5 ms."""
    out: list[Segment] = []
    _walk(trace, trace.root, trace.root.end_us, out)
    out.reverse()
    return out


def _walk(trace: Trace, span: Span, end_cap: int, out: list[Segment]) -> None:
    cursor = min(span.end_us, end_cap)
    own = 0
    path: list[tuple[Span, int]] = []
    for child in sorted(trace.children(span), key=lambda c: c.end_us, reverse=True):
        if child.start_us >= cursor:
            continue
        child_end = min(child.end_us, cursor)
        own += cursor - child_end
        path.append((child, child_end))
        cursor = max(child.start_us, span.start_us)
        if cursor <= span.start_us:
            break
    own += max(0, cursor - span.start_us)
    # children last-to-first, so that reversing the whole list gives time order
    for child, child_end in path:
        _walk(trace, child, child_end, out)
    out.append(Segment(span, own))


def self_time_by_service(segments: Sequence[Segment]) -> dict[str, float]:
    """Milliseconds of critical-path self time per service."""
    out: dict[str, float] = defaultdict(float)
    for seg in segments:
        out[seg.span.service] += seg.self_us / 1000
    return dict(out)


def critical_path_summary(traces: Sequence[Trace], slowest: int = SLOWEST) -> dict[str, Any]:
    """Where the time went on the `slowest` traces: per service, its critical-path
    self time summed and as a share of the traces' total duration.

    `{"analysed": 10, "duration_ms": {"mean": 41.2, "max": 88.0},
      "by_service": [{"service": "order", "self_ms": 210.4, "share": 0.51}, ...],
      "slowest": [{"trace_id", "name", "status", "start_us", "duration_ms", "spans",
                   "services", "critical_path": [{"label", "proxy", "self_ms"}]}]}`
    """
    chosen = sorted(traces, key=lambda t: t.duration_ms, reverse=True)[:slowest]
    total = sum(t.duration_ms for t in chosen)
    by_service: dict[str, float] = defaultdict(float)
    entries = []
    for trace in chosen:
        path = critical_path(trace)
        for service, ms in self_time_by_service(path).items():
            by_service[service] += ms
        entries.append(
            {
                "trace_id": trace.trace_id,
                "name": trace.name,
                "status": trace.status,
                "start_us": trace.start_us,
                "duration_ms": round(trace.duration_ms, 3),
                "spans": len(trace.spans),
                "services": trace.services,
                "critical_path": [
                    {
                        "label": seg.span.label,
                        "proxy": seg.span.proxy,
                        "self_ms": round(seg.self_us / 1000, 3),
                    }
                    for seg in path
                ],
            }
        )
    ranked = sorted(by_service.items(), key=lambda kv: kv[1], reverse=True)
    return {
        "analysed": len(chosen),
        "duration_ms": {
            "mean": round(total / len(chosen), 3) if chosen else None,
            "max": round(chosen[0].duration_ms, 3) if chosen else None,
        },
        "by_service": [
            {
                "service": service,
                "self_ms": round(ms, 3),
                "share": round(ms / total, 4) if total else None,
            }
            for service, ms in ranked
        ],
        "slowest": entries,
    }


# ----------------------------------------------------------------- waterfall


@dataclass(frozen=True)
class WaterfallRow:
    depth: int
    span: Span
    offset_ms: float  # from the trace's start
    duration_ms: float
    critical: bool  # on the critical path


def waterfall(trace: Trace) -> list[WaterfallRow]:
    """The trace's spans depth-first, children by start time, for drawing."""
    on_path = {seg.span.span_id for seg in critical_path(trace)}
    rows: list[WaterfallRow] = []

    def visit(span: Span, depth: int) -> None:
        rows.append(
            WaterfallRow(
                depth,
                span,
                (span.start_us - trace.start_us) / 1000,
                span.duration_us / 1000,
                span.span_id in on_path,
            )
        )
        for child in sorted(trace.children(span), key=lambda c: c.start_us):
            visit(child, depth + 1)

    visit(trace.root, 0)
    return rows


# -------------------------------------------------------------------- Jaeger


def to_jaeger(traces: Iterable[Trace]) -> dict[str, Any]:
    """Traces in the JSON Jaeger's UI opens ("JSON File" on its search page)
    and its `/api/traces` answers: `{"data": [{"traceID", "spans", "processes"}]}`."""
    data = []
    for trace in traces:
        processes: dict[tuple[str, str], str] = {}
        spans = []
        for span in trace.spans:
            key = (span.service, span.proxy)
            pid = processes.setdefault(key, f"p{len(processes) + 1}")
            tags: list[dict[str, Any]] = [
                {"key": "span.kind", "type": "string", "value": span.kind.lower()}
            ]
            tags += [{"key": k, "type": "string", "value": v} for k, v in sorted(span.tags.items())]
            if span.error:
                tags.append({"key": "error", "type": "bool", "value": True})
            refs = []
            if span is not trace.root and span.parent_id:
                refs = [
                    {"refType": "CHILD_OF", "traceID": trace.trace_id, "spanID": span.parent_id}
                ]
            spans.append(
                {
                    "traceID": trace.trace_id,
                    "spanID": span.span_id,
                    "flags": 1,
                    "operationName": f"{span.label} {span.name}",
                    "references": refs,
                    "startTime": span.start_us,
                    "duration": span.duration_us,
                    "tags": tags,
                    "logs": [],
                    "processID": pid,
                    "warnings": None,
                }
            )
        data.append(
            {
                "traceID": trace.trace_id,
                "spans": spans,
                "processes": {
                    pid: {
                        "serviceName": service,
                        "tags": [{"key": "meshsim.proxy", "type": "string", "value": proxy}],
                    }
                    for (service, proxy), pid in processes.items()
                },
                "warnings": None,
            }
        )
    return {"data": data, "total": len(data), "limit": 0, "offset": 0, "errors": None}


def traces_by_phase(run_dir: Path) -> dict[str, list[Trace]]:
    """The run's traces (`traces.jsonl`) by the phase their root started in, in
    phase order; traces outside every phase (start-up, drain) are left out."""
    windows = phase_windows(run_dir)
    out: dict[str, list[Trace]] = {w.name: [] for w in sorted(windows, key=lambda w: w.start)}
    phase_of = PhaseLookup(windows)
    for trace in assemble(read_spans(RunDir(run_dir).traces)):
        phase = phase_of(trace.start_us / 1e6)
        if phase is not None:
            out[phase].append(trace)
    return out


def find_trace(by_phase: dict[str, list[Trace]], prefix: str) -> Trace | None:
    """The first trace whose id starts with `prefix` (`meshsim traces --trace`)."""
    found = [t for ts in by_phase.values() for t in ts if t.trace_id.startswith(prefix.lower())]
    return found[0] if found else None


def slowest(traces: list[Trace], limit: int) -> list[Trace]:
    """The `limit` slowest of `traces`, slowest first (0: all of them)."""
    ordered = sorted(traces, key=lambda t: t.duration_ms, reverse=True)
    return ordered[:limit] if limit > 0 else ordered
