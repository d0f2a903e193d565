"""The phase timeline of a run: the events of phases.jsonl read back, and
when each phase ran rebuilt from them.

The runner writes phases.jsonl; the report, the telemetry readers (access
logs, traces, authz), `topology` and `status` read it here. Lenient on
purpose: a killed run leaves a half-written last line, a phase without an end
and no `run_end`, and every reader must still say what happened.

Phase windows: when each phase ran, rebuilt from the events in phases.jsonl.

A phase with a start and no end is what a killed meshsim leaves behind: it is
"interrupted" and is taken to end at the last thing known to have happened
(the last request or event). A run without `run_end` is "interrupted" too.
A phase without an end in a run that says it completed (`run_end`) is
"incomplete": phases.jsonl lost lines (cut, edited), so what the phase did is
not known in full.

A phase with a `settle` also has a settled window, from its settle point
(`phase_settled`) to its end: the part its expectations judge.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from meshsim.rundir import RunDir

COMPLETED = "completed"
INTERRUPTED = "interrupted"
INCOMPLETE = "incomplete"  # its data is known to be missing (a cut file)
ERROR = "error"  # the mesh could not run, or the phase failed
# How a run ended, as run_end says and `RunResult.status` reports it
RunStatus = Literal["completed", "interrupted", "error"]


class TimedRequest(Protocol):
    """What the timeline needs of a request (`meshsim.load.records.RequestRecord`)."""

    @property
    def t(self) -> float: ...

    @property
    def latency_us(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    event: str  # run_start | phase_start | phase_settled | phase_end | run_end
    t: float
    phase: str | None = None
    index: int | None = None
    planned_s: float | None = None
    status: str | None = None
    error: str | None = None  # run_end of a mesh that could not run: what went wrong
    settle_s: float | None = None  # phase_start, phase_settled: the phase's settle
    # run_end: each records file's complete lines and size when the load stopped
    records: dict[str, Any] | None = None


@dataclass(frozen=True)
class PhaseWindow:
    name: str
    index: int
    start: float  # epoch seconds
    end: float
    status: str  # completed | interrupted | incomplete
    planned_s: float | None = None
    settle_s: float | None = None  # the phase's settle (phase_start); None: none
    settled_at: float | None = None  # epoch seconds it reached it (phase_settled)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class SettledWindow:
    """The part of a phase after its settle: what its expectations judge."""

    settle_s: float
    start: float | None  # epoch seconds of the settle point; None: the phase ended before it
    end: float

    @property
    def reached(self) -> bool:
        return self.start is not None

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start) if self.start is not None else 0.0


def settled_window(phase: PhaseWindow, settle_s: float | None = None) -> SettledWindow | None:
    """The settled part of `phase`, or None when it has no settle.

    `settle_s` defaults to the one phases.jsonl gives the phase. The window
    starts when the runner logged the settle point (`phase_settled`); without
    that event, `settle_s` after the phase's start if the phase lasted that
    long. A phase that ended earlier (cut short) never settled: `start` None.

    >>> w = PhaseWindow("crash", 1, 100.0, 115.0, "completed", 15.0, 2.0, 102.01)
    >>> settled_window(w)
    SettledWindow(settle_s=2.0, start=102.01, end=115.0)
    """
    settle = phase.settle_s if settle_s is None else settle_s
    if not settle:
        return None
    start = phase.settled_at
    if start is None and phase.start + settle < phase.end:
        start = phase.start + settle
    return SettledWindow(settle, start, phase.end)


@dataclass(frozen=True)
class Timeline:
    origin: float  # epoch seconds that "0 s" in the report refers to
    end: float
    status: str  # completed | interrupted | error
    phases: list[PhaseWindow]
    error: str | None = None  # why the mesh could not run (status "error")


def build_timeline(events: Sequence[PhaseEvent], requests: Sequence[TimedRequest]) -> Timeline:
    """Rebuild the phase windows of a run from its events.

    `requests` only matter for a run that was cut short: they say how long the
    last phase really lasted.
    """
    last_request = max((r.t + r.latency_us / 1e6 for r in requests), default=None)
    first_request = min((r.t for r in requests), default=None)
    return timeline_of(events, first_request, last_request)


OPEN_END = math.inf  # `timeline_of(events, None, OPEN_END)`: phases cut short end nowhere


def timeline_of(
    events: Sequence[PhaseEvent], first_request: float | None, last_request: float | None
) -> Timeline:
    """`build_timeline` from what it needs of the requests: the earliest start
    and the latest end (start + latency), for a reader that streams them.

    With `last_request` OPEN_END, a phase that was cut short (the last one of
    an interrupted run) ends at infinity: every request from its start on
    falls in it, as it will once the real end is known.
    """
    last_event = max((e.t for e in events), default=None)
    known_end = max((t for t in (last_request, last_event) if t is not None), default=0.0)

    starts: dict[int, PhaseEvent] = {}
    ends: dict[int, PhaseEvent] = {}
    settled: dict[int, PhaseEvent] = {}
    run_start: PhaseEvent | None = None
    run_end: PhaseEvent | None = None
    for event in events:
        if event.event == "run_start":
            run_start = run_start or event
        elif event.event == "run_end":
            run_end = event
        elif event.event in ("phase_start", "phase_end", "phase_settled"):
            index = event.index if event.index is not None else _index_by_name(event, starts)
            kinds = {"phase_start": starts, "phase_end": ends, "phase_settled": settled}
            kinds[event.event][index] = event

    phases: list[PhaseWindow] = []
    for index in sorted(starts):
        start = starts[index]
        end = ends.get(index)
        if end is not None:
            end_t, status = end.t, end.status or COMPLETED
        else:
            # Ends where the next phase began, or at the last thing we know of.
            later = [s.t for i, s in starts.items() if i > index]
            end_t = min(later) if later else max(known_end, start.t)
            damaged = run_end is not None and run_end.status == COMPLETED
            status = INCOMPLETE if damaged else INTERRUPTED
        phases.append(
            PhaseWindow(
                name=start.phase or f"phase-{index}",
                index=index,
                start=start.t,
                end=max(end_t, start.t),
                status=status,
                planned_s=start.planned_s,
                settle_s=start.settle_s,
                settled_at=settled[index].t if index in settled else None,
            )
        )

    candidates = [run_start.t if run_start else None, phases[0].start if phases else None]
    candidates.append(first_request)
    origin = next((t for t in candidates if t is not None), 0.0)
    if run_end is not None:
        run_status, run_end_t = run_end.status or COMPLETED, run_end.t
    else:
        run_status, run_end_t = INTERRUPTED, known_end
    return Timeline(
        origin=origin,
        end=max(run_end_t, origin),
        status=run_status,
        phases=phases,
        error=run_end.error if run_end is not None else None,
    )


def _index_by_name(event: PhaseEvent, starts: dict[int, PhaseEvent]) -> int:
    """Old or hand-written events may lack `index`: pair them up by name."""
    for index, start in starts.items():
        if start.phase == event.phase:
            return index
    return len(starts)


def json_lines(path: Path, warnings: list[str]) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSON-lines file.

    A damaged last line is what a killed writer leaves and is dropped
    silently; damaged lines elsewhere are counted in a warning.
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        warnings.append(f"{path.name}: cannot read: {exc}")
        return
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            if number != len(lines):
                bad += 1
            continue
        if isinstance(value, dict):
            yield value
        else:
            bad += 1
    if bad:
        warnings.append(f"{path.name}: skipped {bad} unreadable line(s)")


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read_phase_events(path: Path) -> list[PhaseEvent]:
    """The events of a phases.jsonl file, leniently: what could be read."""
    return read_events(path, [])


def read_events(path: Path, warnings: list[str]) -> list[PhaseEvent]:
    if not path.is_file():
        warnings.append("phases.jsonl is missing: the phase timeline is unknown")
        return []
    events: list[PhaseEvent] = []
    for raw in json_lines(path, warnings):
        t = number(raw.get("t"))
        kind = raw.get("event")
        if t is None or not isinstance(kind, str):
            continue
        index = raw.get("index")
        phase = raw.get("phase")
        status = raw.get("status")
        error = raw.get("error")
        events.append(
            PhaseEvent(
                event=kind,
                t=t,
                phase=phase if isinstance(phase, str) else None,
                index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                planned_s=number(raw.get("planned_s")),
                status=status if isinstance(status, str) else None,
                error=error if isinstance(error, str) else None,
                settle_s=number(raw.get("settle_s")),
                records=records if isinstance(records := raw.get("records"), dict) else None,
            )
        )
    return events


def phase_windows(run_dir: Path) -> list[PhaseWindow]:
    """When each phase of the run ran (as the report sees it)."""
    return build_timeline(read_phase_events(RunDir(run_dir).phases), []).phases


def phase_of(t: float, windows: Sequence[PhaseWindow]) -> str | None:
    """The phase whose window holds `t` (the later one at a boundary), or None.
    For many times against the same windows, `PhaseLookup` sorts them once."""
    return PhaseLookup(windows)(t)


class PhaseLookup:
    """`phase_of` for every line of a file: the windows sorted once, not per
    call (`meshsim logs` asks for each access-log entry)."""

    def __init__(self, windows: Sequence[PhaseWindow]) -> None:
        self._ordered = sorted(windows, key=lambda w: w.start)
        self._starts = [w.start for w in self._ordered]

    def __call__(self, t: float) -> str | None:
        pos = bisect.bisect_right(self._starts, t) - 1
        if pos >= 0 and t <= self._ordered[pos].end:
            return self._ordered[pos].name
        return None
