"""Phase windows: when each phase ran, rebuilt from the events in phases.jsonl.

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
from collections.abc import Sequence
from dataclasses import dataclass

from meshsim.load.records import RequestRecord
from meshsim.report.model import PHASE_INCOMPLETE
from tests.report.eager.inputs import PhaseEvent

COMPLETED = "completed"
INTERRUPTED = "interrupted"
INCOMPLETE = PHASE_INCOMPLETE  # its data is known to be missing (a cut file)


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


def build_timeline(events: Sequence[PhaseEvent], requests: Sequence[RequestRecord]) -> Timeline:
    """Rebuild the phase windows of a run from its events.

    `requests` only matter for a run that was cut short: they say how long the
    last phase really lasted.
    """
    last_request = max((r.t + r.latency_us / 1e6 for r in requests), default=None)
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

    first_request = requests[0].t if requests else None
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


def assign_to_phases(
    requests: Sequence[RequestRecord], phases: Sequence[PhaseWindow]
) -> list[list[RequestRecord]]:
    """Split requests by the phase whose window holds their start time.

    A request at the very instant one phase ends and the next starts belongs
    to the next one. Requests outside every window (warm-up, drain) belong to
    no phase.
    """
    order = sorted(range(len(phases)), key=lambda i: phases[i].start)
    starts = [phases[i].start for i in order]
    buckets: list[list[RequestRecord]] = [[] for _ in phases]
    for request in requests:
        pos = bisect.bisect_right(starts, request.t) - 1
        if pos < 0:
            continue
        # Every later phase starts after request.t, so an inclusive end is safe.
        if request.t <= phases[order[pos]].end:
            buckets[order[pos]].append(request)
    return buckets
