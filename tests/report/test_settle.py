"""Expectations judged after a phase's `settle`, from a synthetic run directory:
the window from the settle point (phases.jsonl) to the phase's end, the
settled edges (edges.json `settled`), and how every report says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml

from meshsim.report import build_report, write_reports
from meshsim.report.html import render_html
from meshsim.timeline import PhaseEvent, PhaseWindow, build_timeline, settled_window
from tests.report.runs import T0, RunDir, phase_events, request, steady

EXPECT = [
    "error_rate < 1%",
    "requests >= 50",
    "edge(order->product).error_rate < 1%",
    "version(product:v1).share > 90%",
]
PHASES = [("baseline", 10.0, ["error_rate < 1%"]), ("crash", 10.0, EXPECT)]


def settle_events(settle_s: float, settled_after: float | None) -> list[dict[str, Any]]:
    """baseline 1..11 s, crash 11..21 s with `settle_s`; the runner logged the
    settle point `settled_after` seconds into crash (None: it never did)."""
    events = phase_events([(n, d) for n, d, _ in PHASES])
    for event in events:
        if event.get("phase") == "crash" and event["event"] == "phase_start":
            event["settle_s"] = settle_s
    if settled_after is not None:
        at = next(i for i, e in enumerate(events) if e.get("phase") == "crash") + 1
        settled = {"event": "phase_settled", "phase": "crash", "index": 1, "settle_s": settle_s}
        events.insert(at, {**settled, "t": T0 + 11 + settled_after})
    return events


def crash_records() -> list[dict[str, Any]]:
    """10 requests a second; in crash's first 2 s one in five fails."""
    baseline = steady(1, 11)
    crash = [request(11 + i / 10, ok=not (i < 20 and i % 5 == 0)) for i in range(100)]
    return baseline + crash


EDGE = {"source": "order", "destination": "product", "destination_version": "v1"}
EDGES = {
    "phases": {
        "baseline": [{**EDGE, "requests": 300, "errors": 0}],
        "crash": [{**EDGE, "requests": 300, "errors": 12}],
    },
    "settled": {"crash": [{**EDGE, "requests": 240, "errors": 0}]},
}


def test_build_timeline_reads_the_settle_and_the_settle_point() -> None:
    raw = settle_events(2.0, 2.01)
    events = [
        PhaseEvent(
            event=e["event"],
            t=e["t"],
            phase=e.get("phase"),
            index=e.get("index"),
            settle_s=e.get("settle_s"),
        )
        for e in raw
    ]
    baseline, crash = build_timeline(events, []).phases
    assert (baseline.settle_s, baseline.settled_at) == (None, None)
    assert settled_window(baseline) is None
    assert (crash.settle_s, crash.settled_at) == (2.0, T0 + 13.01)
    part = settled_window(crash)
    assert part is not None and part.reached
    assert (part.start, part.end) == (T0 + 13.01, T0 + 21)
    assert round(part.duration_s, 3) == 7.99


def test_settled_window_without_the_settle_point_event() -> None:
    # phases.jsonl lost the event (or was written by hand): the planned settle
    w = PhaseWindow("crash", 1, 100.0, 110.0, "completed", 10.0, settle_s=2.0)
    part = settled_window(w)
    assert part is not None and (part.start, part.end) == (102.0, 110.0)
    # cut short before its settle point: nothing to judge
    short = PhaseWindow("crash", 1, 100.0, 101.5, "interrupted", 10.0, settle_s=2.0)
    part = settled_window(short)
    assert part is not None and not part.reached and part.duration_s == 0.0
    # an explicit settle wins over the window's own
    assert settled_window(PhaseWindow("a", 0, 0.0, 5.0, "completed"), 1.0) is not None


def test_expectations_are_judged_after_the_settle(run_dir: RunDir) -> None:
    path = run_dir.write(
        phases=PHASES, records=crash_records(), events=settle_events(2.0, 2.01), edges=EDGES
    )
    report = build_report(path)
    baseline, crash = report.phases
    assert baseline.settled is None
    # the phase's own numbers cover all of it, transition included
    assert (crash.traffic.requests, crash.traffic.failures) == (100, 4)
    settled = crash.settled
    assert settled is not None
    assert (settled.settle_s, settled.start_s, settled.end_s) == (2.0, 13.01, 21.0)
    assert (settled.traffic.requests, settled.traffic.failures) == (79, 0)
    assert settled.edges == EDGES["settled"]["crash"]
    by_expr = {e.expr: e for e in crash.expectations}
    assert by_expr["error_rate < 1%"].observed == 0.0
    assert by_expr["requests >= 50"].observed == 79.0
    assert by_expr["edge(order->product).error_rate < 1%"].observed == 0.0  # whole phase: 4%
    assert by_expr["version(product:v1).share > 90%"].observed == 1.0
    assert all(e.passed and e.settle_s == 2.0 for e in crash.expectations)
    assert all(e.note == "after 2s settle" for e in crash.expectations)
    assert baseline.expectations[0].note is None and baseline.expectations[0].settle_s is None
    assert report.verdict == "pass"


def test_report_json_carries_the_settled_part(run_dir: RunDir) -> None:
    path = run_dir.write(
        phases=PHASES, records=crash_records(), events=settle_events(2.0, 2.01), edges=EDGES
    )
    data = json.loads(json.dumps(build_report(path).to_dict(), allow_nan=False))
    baseline, crash = data["phases"]
    assert baseline["settled"] is None
    assert crash["requests"] == 100 and crash["edges"] == EDGES["phases"]["crash"]
    settled = crash["settled"]
    assert list(settled) == [
        "settle_s", "start_s", "end_s", "duration_s", "requests", "failures", "error_rate",
        "rps", "latency_ms", "served", "edges",
    ]  # fmt: skip
    assert (settled["settle_s"], settled["start_s"], settled["duration_s"]) == (2.0, 13.01, 7.99)
    assert (settled["requests"], settled["failures"], settled["error_rate"]) == (79, 0, 0.0)
    assert settled["rps"] == round(79 / 7.99, 3)
    assert settled["latency_ms"]["p99"] == 1.0
    assert settled["served"] == {"product": {"v1": 79}}
    assert settled["edges"] == EDGES["settled"]["crash"]
    first = crash["expectations"][0]
    assert (first["settle_s"], first["note"]) == (2.0, "after 2s settle")
    assert "settle_s" not in baseline["expectations"][0]


def test_without_settled_edges_edge_expectations_cannot_be_judged(run_dir: RunDir) -> None:
    edges = {"phases": EDGES["phases"]}  # the snapshot at the settle point failed
    path = run_dir.write(
        phases=PHASES, records=crash_records(), events=settle_events(2.0, 2.0), edges=edges
    )
    crash = build_report(path).phases[1]
    by_expr = {e.expr: e for e in crash.expectations}
    edge = by_expr["edge(order->product).error_rate < 1%"]
    assert (edge.observed, edge.passed, edge.note) == (None, False, "after 2s settle; no edge data")
    assert crash.settled is not None and crash.settled.edges == []
    # without edges the share falls back to the settled records, as for a whole phase
    assert by_expr["version(product:v1).share > 90%"].observed == 1.0


def test_a_phase_cut_short_before_its_settle_point(run_dir: RunDir) -> None:
    events = phase_events([(n, d) for n, d, _ in PHASES], killed_in=1)
    events[-1]["settle_s"] = 2.0  # crash's phase_start; meshsim was killed 1.5 s in
    records = steady(1, 11) + steady(11, 12.5)
    report = build_report(run_dir.write(phases=PHASES, records=records, events=events))
    crash = report.phases[1]
    assert crash.status == "interrupted" and crash.traffic.requests == 15
    assert crash.settled is not None and crash.settled.start_s is None
    for e in crash.expectations:
        assert (e.observed, e.passed, e.settle_s) == (None, False, 2.0)
        assert e.note == "the phase ended before its 2s settle: nothing to judge"
    settled = report.to_dict()["phases"][1]["settled"]
    assert (settled["start_s"], settled["requests"], settled["error_rate"]) == (None, 0, None)
    assert report.verdict == "fail"


def test_every_report_says_the_expectation_was_judged_after_settling(
    run_dir: RunDir, tmp_path: Path
) -> None:
    records = crash_records()
    records[-1] = request(20.9, ok=False)  # one failure after the settle: 1 of 79
    expect = ["error_rate < 1%"]
    phases = [PHASES[0], ("crash", 10.0, expect)]
    path = run_dir.write(
        phases=phases, records=records, events=settle_events(2.0, 2.01), edges=EDGES
    )
    report = build_report(path)
    out = tmp_path / "out"
    write_reports(report, out, environ={})

    xml = JUnitXml.fromfile(str(out / "junit.xml"))
    case = next(c for s in xml if s.name == "crash" for c in s if c.name == "error_rate < 1%")
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert failure.message == "observed 1.27%, expected < 1% (after 2s settle)"

    summary = (out / "summary.md").read_text()
    assert "| `error_rate < 1%` | 1.27% | < 1% | after 2s settle |" in summary
    assert (
        "- crash judged after a 2s settle: 79 requests, errors 1.27%, p99 1 ms "
        "(whole phase: errors 5%, p99 1 ms)"
    ) in summary

    html = render_html(report)
    assert "after 2s settle" in html
    assert "Expectations judged after a 2s settle, from 13.0s (8.0s)" in html
    assert "settling: not judged by the expectations" in html  # the shaded band
