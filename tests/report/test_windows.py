from __future__ import annotations

import bisect
import random

import pytest

from meshsim.load.records import RequestRecord
from meshsim.report.windows import assign_to_phases
from meshsim.timeline import PhaseEvent, PhaseLookup, PhaseWindow, build_timeline, phase_of
from tests.report.runs import T0, phase_events, request


def events(raw: list[dict[str, object]]) -> list[PhaseEvent]:
    return [
        PhaseEvent(
            event=str(e["event"]),
            t=float(e["t"]),  # type: ignore[arg-type]
            phase=e.get("phase"),  # type: ignore[arg-type]
            index=e.get("index"),  # type: ignore[arg-type]
            planned_s=e.get("planned_s"),  # type: ignore[arg-type]
            status=e.get("status"),  # type: ignore[arg-type]
        )
        for e in raw
    ]


def rec(t: float, latency_us: int = 1000) -> RequestRecord:
    return RequestRecord.from_json(request(t, latency_us=latency_us))


def test_completed_run() -> None:
    timeline = build_timeline(events(phase_events([("a", 10.0), ("b", 5.0)])), [])
    assert timeline.status == "completed"
    assert timeline.origin == T0
    assert [(p.name, p.start - T0, p.end - T0, p.status) for p in timeline.phases] == [
        ("a", 1.0, 11.0, "completed"),
        ("b", 11.0, 16.0, "completed"),
    ]
    assert timeline.phases[0].planned_s == 10.0
    assert timeline.end == T0 + 16.5


def test_killed_run_interrupts_the_running_phase_at_the_last_record() -> None:
    raw = phase_events([("a", 10.0), ("b", 20.0), ("c", 5.0)], killed_in=1)
    timeline = build_timeline(events(raw), [rec(2.0), rec(17.0, latency_us=500_000)])
    assert timeline.status == "interrupted"
    a, b = timeline.phases
    assert a.status == "completed"
    assert b.status == "interrupted"
    assert b.end == T0 + 17.5  # the last request's start + its latency
    assert b.duration_s == 6.5
    assert timeline.end == T0 + 17.5


def test_phase_without_end_before_a_later_phase_ends_where_the_next_starts() -> None:
    raw = [
        e
        for e in phase_events([("a", 10.0), ("b", 5.0)])
        if e.get("phase") != "a" or e["event"] != "phase_end"
    ]
    timeline = build_timeline(events(raw), [])
    # the run says it completed: phases.jsonl lost a line, the phase is incomplete
    assert timeline.phases[0].status == "incomplete"
    assert timeline.phases[0].end == timeline.phases[1].start
    killed = build_timeline(events([e for e in raw if e["event"] != "run_end"]), [])
    assert killed.phases[0].status == "interrupted"  # a killed run: no run_end


def test_events_without_index_are_paired_by_name() -> None:
    raw = [
        {"event": "phase_start", "phase": "a", "t": T0},
        {"event": "phase_end", "phase": "a", "t": T0 + 3, "status": "completed"},
    ]
    timeline = build_timeline(events(raw), [])
    assert [(p.name, p.end - p.start, p.status) for p in timeline.phases] == [
        ("a", 3.0, "completed")
    ]
    assert timeline.status == "interrupted"  # no run_end


def test_assign_requests_to_phase_windows() -> None:
    a = PhaseWindow("a", 0, T0 + 1, T0 + 11, "completed")
    b = PhaseWindow("b", 1, T0 + 11, T0 + 16, "completed")
    records = [rec(0.5), rec(1.0), rec(10.99), rec(11.0), rec(16.0), rec(16.01)]
    in_a, in_b = assign_to_phases(records, [a, b])
    assert [r.t - T0 for r in in_a] == pytest.approx([1.0, 10.99])
    # At the boundary a request belongs to the phase that starts there; a
    # request at the very end of the last phase still belongs to it.
    assert [r.t - T0 for r in in_b] == pytest.approx([11.0, 16.0])


def _phase_of_as_before(t: float, windows: list[PhaseWindow]) -> str | None:
    """phase_of as it was before PhaseLookup: the windows sorted on every call."""
    ordered = sorted(windows, key=lambda w: w.start)
    pos = bisect.bisect_right([w.start for w in ordered], t) - 1
    if pos >= 0 and t <= ordered[pos].end:
        return ordered[pos].name
    return None


def test_phase_lookup_answers_as_phase_of_did() -> None:
    """Sorting once (PhaseLookup, what `meshsim logs` and `traces` use) gives
    the same phase for every time: before, inside, at shared and overlapping
    boundaries, in gaps and after, with the windows given in any order."""
    rng = random.Random(21)
    for _ in range(200):
        windows, start = [], 100.0
        for i in range(rng.randint(0, 6)):
            start += rng.choice([0.0, 0.5, 3.0])  # 0: two phases start together
            end = start + rng.choice([0.0, 1.0, 2.5, 4.0])  # overlaps the next, or a gap
            windows.append(PhaseWindow(f"p{i}", i, start, end, "completed"))
            start = end if rng.random() < 0.5 else start + 1.0
        rng.shuffle(windows)
        lookup = PhaseLookup(windows)
        times = [99.0, 1e9] + [w.start for w in windows] + [w.end for w in windows]
        times += [rng.uniform(99.0, start + 2.0) for _ in range(20)]
        for t in times:
            assert lookup(t) == _phase_of_as_before(t, windows) == phase_of(t, windows)
