"""Traces from spans: the tree, the critical path, the waterfall, Jaeger's JSON."""

from __future__ import annotations

import json
from pathlib import Path

from meshsim.telemetry.traces import (
    assemble,
    critical_path,
    critical_path_summary,
    read_spans,
    self_time_by_service,
    span_from_zipkin,
    to_jaeger,
    traces_by_phase,
    waterfall,
)
from tests.telemetry.runs import TRACE, make_run, order_trace, zipkin_span


def _trace():  # type: ignore[no-untyped-def]
    spans = [s for s in (span_from_zipkin(raw) for raw in order_trace()) if s is not None]
    (trace,) = assemble(spans)
    return trace


def test_span_from_zipkin_reads_envoys_tags() -> None:
    raw = order_trace()[2]
    span = span_from_zipkin(raw)
    assert span is not None
    assert (span.service, span.direction, span.kind, span.peer) == (
        "order",
        "outbound",
        "CLIENT",
        "user",
    )
    assert (span.method, span.path, span.status, span.proxy) == (
        "GET",
        "/users/1",
        200,
        "order-v1-0",
    )
    assert span.label == "order → user" and span.duration_us == 4000
    inbound = span_from_zipkin(order_trace()[3])
    assert inbound is not None and inbound.peer == "order" and inbound.label == "user"
    assert span_from_zipkin({"id": "x"}) is None


def test_assemble_builds_the_tree() -> None:
    trace = _trace()
    assert trace.trace_id == TRACE and trace.root.span_id == "a1"
    assert [s.span_id for s in trace.children(trace.root)] == ["b1"]
    assert sorted(s.span_id for s in trace.children(trace.spans[1])) == ["c1", "d1", "e1"]
    assert trace.duration_ms == 40 and trace.name == "POST /orders" and trace.status == 201
    assert trace.services == ["istio-ingressgateway", "order", "product", "shipping", "user"]


def test_a_lost_parent_hangs_the_span_from_the_root() -> None:
    spans = [span_from_zipkin(s) for s in order_trace() if s["id"] != "e1"]
    (trace,) = assemble(s for s in spans if s is not None)
    assert "e2" in {s.span_id for s in trace.children(trace.root)}


def test_critical_path_and_self_times() -> None:
    trace = _trace()
    path = critical_path(trace)
    # user (2-6) runs beside product (2-8): product finished last, so it is on the path
    assert [s.span.span_id for s in path] == ["a1", "b1", "d1", "d2", "e1", "e2"]
    assert sum(s.self_us for s in path) == 40_000  # the path accounts for the whole request
    assert self_time_by_service(path) == {
        "istio-ingressgateway": 2.0,
        "order": 10.0,
        "product": 4.0,
        "shipping": 24.0,
    }


def test_critical_path_summary_of_the_slowest() -> None:
    spans = [span_from_zipkin(s) for s in order_trace() + order_trace("f" * 32, 100)]
    fast = [s for s in (span_from_zipkin(r) for r in order_trace("e" * 32, 200)) if s]
    traces = assemble([s for s in spans if s is not None] + fast[:1])
    summary = critical_path_summary(traces, slowest=2)
    assert summary["analysed"] == 2 and summary["duration_ms"] == {"mean": 40.0, "max": 40.0}
    assert summary["by_service"][0] == {"service": "shipping", "self_ms": 48.0, "share": 0.6}
    assert summary["slowest"][0]["critical_path"][0]["label"] == "istio-ingressgateway → order"


def test_waterfall_rows() -> None:
    rows = waterfall(_trace())
    # children by start time; at the same start, the longer first
    assert [(r.depth, r.span.span_id) for r in rows][:6] == [
        (0, "a1"), (1, "b1"), (2, "d1"), (3, "d2"), (2, "c1"), (3, "c2"),
    ]  # fmt: skip
    user_call = rows[4]
    assert (user_call.offset_ms, user_call.duration_ms, user_call.critical) == (2.0, 4.0, False)
    assert all(r.critical for r in rows if r.span.span_id in ("a1", "b1", "e1", "e2"))


def test_jaeger_json() -> None:
    data = to_jaeger([_trace()])["data"]
    (trace,) = data
    assert trace["traceID"] == TRACE and len(trace["spans"]) == 8
    by_id = {s["spanID"]: s for s in trace["spans"]}
    assert by_id["a1"]["references"] == []
    assert by_id["c2"]["references"] == [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": "c1"}]
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert services == {"istio-ingressgateway", "order", "user", "product", "shipping"}
    assert all(s["processID"] in trace["processes"] for s in trace["spans"])
    assert {"key": "span.kind", "type": "string", "value": "client"} in by_id["c1"]["tags"]
    json.dumps(data)


def test_read_spans_skips_bad_lines_and_repeats(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    lines = [json.dumps(s) for s in order_trace()]
    batch = json.dumps(order_trace()[:3])  # the collector writes batches
    path.write_text("\n".join([batch] + lines + lines[:2] + ["not json", '{"id": 1}']) + "\n")
    assert len(read_spans(path)) == 8
    assert read_spans(tmp_path / "missing.jsonl") == []


def test_traces_by_phase(tmp_path: Path) -> None:
    late = order_trace("b" * 32, 12_000)  # starts 13 s into the run: phase two
    outside = [
        zipkin_span("z1", None, "istio-ingressgateway", "ingress", -5000, 3, trace_id="c" * 32)
    ]
    run_dir = make_run(tmp_path, spans=order_trace() + late + outside)
    by_phase = traces_by_phase(run_dir)
    assert {k: [t.trace_id for t in v] for k, v in by_phase.items()} == {
        "one": [TRACE],
        "two": ["b" * 32],
    }
