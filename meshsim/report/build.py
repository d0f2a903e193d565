"""From a run directory to a `Report`: read, split by phase, measure, judge.

Pure: it reads files and returns a value. Building the same directory twice
gives the same report, which is what `meshsim report RUN_DIR` relies on.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim.report.expectations import after_settle, evaluate, never_settled, result
from meshsim.report.inputs import RunInputs, iter_requests, read_run_dir
from meshsim.report.model import (
    PHASE_NOT_RUN,
    ExpectationResult,
    PhaseReport,
    Report,
    SettledReport,
)
from meshsim.report.stats import PhaseStats, PhaseStatsBuilder, TimeSeriesBuilder, Traffic
from meshsim.rundir import RunDir
from meshsim.scenario.expect import parse_expectation
from meshsim.scenario.loader import load_scenario
from meshsim.scenario.model import Scenario
from meshsim.telemetry.runfiles import read_plan
from meshsim.telemetry.slowest import slowest_traces
from meshsim.telemetry.traces import SLOWEST, critical_path_summary
from meshsim.timeline import (
    INCOMPLETE,
    OPEN_END,
    PhaseWindow,
    Timeline,
    settled_window,
    timeline_of,
)
from meshsim.topology import declared_graph, service_graph

if TYPE_CHECKING:
    from meshsim.telemetry.traces import Trace


def build_report(run_dir: Path, *, bucket_s: float = 1.0) -> Report:
    """Build the report of the run in `run_dir` (finished or cut short).

    The records are read once, in the order the files hold them, into
    per-phase aggregates (`PhaseStatsBuilder`, `TimeSeriesBuilder`); the
    traces twice, keeping only each phase's slowest (`slowest_traces`). So
    memory grows with phases, endpoints and edges, not with requests (bar 4
    bytes a request for the per-second chart): docs/benchmarks.md has figures.

    Raises `UsageError` if `run_dir` is not a run directory and
    `ScenarioError(s)` if its scenario.yaml cannot be read.

    Example::

        report = build_report(Path(".meshsim/runs/20240611-101500"))
        write_reports(report, report_dir)
        raise SystemExit(report.exit_code)
    """
    inputs = read_run_dir(Path(run_dir))
    scenario = (
        load_scenario(inputs.scenario_path, check_files=False) if inputs.scenario_path else None
    )
    seen = _stream(inputs, scenario, bucket_s)
    timeline = seen.timeline
    windows = _match_windows(scenario, timeline.phases)
    ran = [w for _, w, _ in windows if w is not None]

    observed = _Observed(inputs.run_dir, ran)
    phases: list[PhaseReport] = []
    for index, (name, window, expect) in enumerate(windows):
        if window is None:
            phases.append(_not_run(name, index, scenario, expect))
            continue
        stats = seen.phases[window.index].build(window.duration_s)
        edges = inputs.edges.get(window.name) if inputs.edges is not None else None
        settled = _settled(window, seen.settled.get(window.index), inputs, timeline.origin)
        if settled is None:
            judged = [_evaluate(text, stats, edges, window.duration_s) for text in expect]
        else:
            # None: no edges.json, or no edges from this phase's settle point on
            after = inputs.settled_edges.get(window.name) if inputs.edges is not None else None
            judged = [_evaluate_settled(text, settled, after) for text in expect]
        phases.append(
            PhaseReport(
                name=window.name,
                index=index,
                status=_status(window, inputs),
                start_s=round(window.start - timeline.origin, 3),
                end_s=round(window.end - timeline.origin, 3),
                planned_s=_planned(scenario, index)
                if window.planned_s is None
                else window.planned_s,
                stats=stats,
                edges=list(edges or []),
                policy=inputs.policies.get(window.name),
                expectations=judged,
                graph=observed.graph(edges),
                critical_path=observed.critical_path(window),
                settled=settled,
            )
        )

    totals = _totals(seen, ran)
    keeping = inputs.meta.get("trace_keeping")  # the collector's policy and counts
    return Report(
        run_id=_text(inputs.meta, "run_id") or inputs.run_dir.name,
        scenario=_text(inputs.meta, "scenario") or (scenario.name if scenario else "?"),
        scenario_file=_text(inputs.meta, "scenario_file"),
        runtime=_text(inputs.meta, "runtime") or "?",
        started_at=_text(inputs.meta, "started_at") or _iso(timeline),
        ready_s=_float(inputs.meta.get("ready_s")),
        ingress_url=_text(inputs.meta, "ingress_url"),
        trace_keeping=keeping if isinstance(keeping, dict) else None,
        status=timeline.status,
        error=timeline.error,
        duration_s=round(timeline.end - timeline.origin, 3),
        phases=phases,
        totals=totals,
        timeline=seen.series.build(timeline.end),
        bucket_s=bucket_s,
        run_dir=str(inputs.run_dir),
        warnings=_warnings(inputs, timeline, seen.count)
        + (throughput_drops(phases) if scenario is None or not scenario.load.arrival_rate else []),
    )


@dataclass
class _Seen:
    """What one pass over the records left: per-phase aggregates (by the
    phase's index in phases.jsonl), the time series and the timeline."""

    timeline: Timeline
    phases: dict[int, PhaseStatsBuilder]
    settled: dict[int, PhaseStatsBuilder]  # phases with a settle: from their settle point on
    series: TimeSeriesBuilder
    count: int


def _stream(inputs: RunInputs, scenario: Scenario | None, bucket_s: float) -> _Seen:
    """Read the records once into per-phase aggregates.

    The phase windows come from phases.jsonl alone; a phase cut short is open
    ended until the records say when the last request ended (every request
    from its start on is in it either way), and the timeline is rebuilt then.
    """
    events = inputs.events
    provisional = timeline_of(events, None, OPEN_END)
    origin: float | None = provisional.origin
    if not any(e.event == "run_start" for e in events) and not provisional.phases:
        origin = None  # the first request is the origin: known only after a pass
    if origin is None:
        origin = min((r.t for r in iter_requests(inputs.run_dir)), default=0.0)
    cohorts = [c.name for c in scenario.load.cohorts] if scenario else []
    windows = sorted(provisional.phases, key=lambda w: w.start)
    starts = [w.start for w in windows]
    phases = {w.index: PhaseStatsBuilder(cohorts) for w in windows}
    settle_from = {w.index: _settle_point(w) for w in windows}
    settled = {i: PhaseStatsBuilder(cohorts) for i, t in settle_from.items() if t is not None}
    series = TimeSeriesBuilder(origin, bucket_s)
    first: float | None = None
    last_end: float | None = None
    count = 0
    # the loop runs once per request of the run: names bound locally, the
    # window's builders looked up by its position
    ends = [w.end for w in windows]
    builders = [phases[w.index] for w in windows]
    points = [settle_from[w.index] for w in windows]
    after = [settled.get(w.index) for w in windows]
    add_to_series = series.add
    where = bisect.bisect_right
    for request in iter_requests(inputs.run_dir):
        count += 1
        t = request.t
        if first is None or t < first:
            first = t
        end = t + request.latency_us / 1e6
        if last_end is None or end > last_end:
            last_end = end
        add_to_series(request)
        # as assign_to_phases: the window whose start is the latest at or before t
        pos = where(starts, t) - 1
        if pos < 0 or t > ends[pos]:
            continue
        builders[pos].add(request)
        point = points[pos]
        if point is not None and t >= point:
            after[pos].add(request)  # type: ignore[union-attr]
    timeline = timeline_of(events, first, last_end)
    return _Seen(timeline, phases, settled, series, count)


def _settle_point(window: PhaseWindow) -> float | None:
    """Where the settled part of a phase begins, whatever its end turns out to be."""
    part = settled_window(window)
    return part.start if part is not None else None


def _totals(seen: _Seen, ran: list[PhaseWindow]) -> Traffic:
    """The run's totals: every request in a phase that ran, as one."""
    merged = PhaseStatsBuilder()
    for window in ran:
        merged.overall.merge(seen.phases[window.index].overall)
    return merged.overall.build(sum(w.duration_s for w in ran))


class _Observed:
    """What the proxies saw, per phase: the service graph from the edges and
    the critical path of the slowest traces (traces.jsonl), if there are any."""

    def __init__(self, run_dir: Path, windows: list[PhaseWindow]) -> None:
        plan = read_plan(run_dir)
        self.declared = declared_graph(
            list(plan.services) if plan and plan.services else None,
            app=plan.app if plan else None,
        )
        # window index -> (traces in it, its slowest): two passes over the
        # file, holding only the slowest few traces' spans
        self.traces: dict[int, tuple[int, list[Trace]]] = slowest_traces(
            RunDir(run_dir).traces, [(w.index, w.start, w.end) for w in windows], SLOWEST
        )

    def graph(self, edges: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        if edges is None:
            return None
        return service_graph(edges, self.declared).to_dict()

    def critical_path(self, window: PhaseWindow) -> dict[str, Any] | None:
        traced, slowest = self.traces.get(window.index, (0, []))
        if not traced:
            return None
        return {"traced": traced, **critical_path_summary(slowest)}


def _match_windows(
    scenario: Scenario | None, windows: list[PhaseWindow]
) -> list[tuple[str, PhaseWindow | None, list[str]]]:
    """Pair each phase the scenario plans with the window in which it ran.

    Phases are matched by index and, should the names disagree, by name.
    Without a scenario, the phases are whatever ran.
    """
    if scenario is None:
        return [(w.name, w, []) for w in windows]
    by_index = {w.index: w for w in windows}
    by_name = {w.name: w for w in windows}
    pairs: list[tuple[str, PhaseWindow | None, list[str]]] = []
    for index, phase in enumerate(scenario.phases):
        window = by_index.get(index)
        if window is None or window.name != phase.name:
            window = by_name.get(phase.name)
        pairs.append((phase.name, window, list(phase.expect)))
    return pairs


def _evaluate(
    text: str, stats: PhaseStats, edges: list[dict[str, Any]] | None, duration_s: float
) -> ExpectationResult:
    try:
        expectation = parse_expectation(text)
    except ValueError as exc:  # validated before the run; kept readable all the same
        return ExpectationResult(expr=text, observed=None, passed=False, note=str(exc))
    return evaluate(expectation, stats, edges, duration_s)


def _settled(
    window: PhaseWindow,
    builder: PhaseStatsBuilder | None,
    inputs: RunInputs,
    origin: float,
) -> SettledReport | None:
    """The phase after its settle (phases.jsonl says where it began); None without one."""
    part = settled_window(window)
    if part is None:
        return None
    if part.start is None or builder is None:
        return SettledReport(part.settle_s, None, None, None)
    start = part.start
    return SettledReport(
        settle_s=part.settle_s,
        start_s=round(start - origin, 3),
        end_s=round(part.end - origin, 3),
        stats=builder.build(part.duration_s),
        edges=list(inputs.settled_edges.get(window.name) or []),
    )


def _evaluate_settled(
    text: str, settled: SettledReport, edges: list[dict[str, Any]] | None
) -> ExpectationResult:
    if settled.stats is None:
        try:
            return never_settled(parse_expectation(text), settled.settle_s)
        except ValueError as exc:
            return ExpectationResult(expr=text, observed=None, passed=False, note=str(exc))
    judged = _evaluate(text, settled.stats, edges, settled.duration_s or 0.0)
    return after_settle(judged, settled.settle_s)


def _not_run(name: str, index: int, scenario: Scenario | None, expect: list[str]) -> PhaseReport:
    results: list[ExpectationResult] = []
    for text in expect:
        try:
            results.append(result(parse_expectation(text), None, "phase did not run", skipped=True))
        except ValueError as exc:
            results.append(ExpectationResult(text, None, False, note=str(exc), skipped=True))
    return PhaseReport(
        name=name,
        index=index,
        status=PHASE_NOT_RUN,
        start_s=None,
        end_s=None,
        planned_s=_planned(scenario, index),
        stats=None,
        expectations=results,
    )


def _planned(scenario: Scenario | None, index: int) -> float | None:
    if scenario is None or index >= len(scenario.phases):
        return None
    return scenario.phases[index].duration


def _status(window: PhaseWindow, inputs: RunInputs) -> str:
    """The window's status, or "incomplete" when records it held were lost
    (a records file shorter than the run left it): never "completed" then."""
    cut = inputs.truncated_after
    if cut is not None and window.end > cut and window.status == "completed":
        return INCOMPLETE
    return window.status


def _warnings(inputs: RunInputs, timeline: Timeline, requests: int) -> list[str]:
    warnings = list(inputs.warnings)
    for window in timeline.phases:
        if window.status == INCOMPLETE:
            warnings.append(
                f"phases.jsonl: phase {window.name} has no phase_end although the run "
                "ended: the file lost lines (cut or edited); the phase is shown as incomplete"
            )
    if timeline.phases and not requests:
        warnings.append("no requests were recorded: is the load generator running?")
    return warnings


DROP = 0.2  # a closed-loop phase under this share of the previous one's rps is suspect
_MIN_REQUESTS = 20  # fewer in the previous phase: too few to compare rates


def throughput_drops(phases: list[PhaseReport]) -> list[str]:
    """Warnings for closed-loop phases whose throughput fell under 20% of the
    previous phase's: each shopper waits for its answer, so a hung instance
    stalls them and its phase judges only the few requests they sent (the
    hang hides itself: coordinated omission)."""
    out = []
    ran = [p for p in phases if p.stats is not None]
    for before, phase in zip(ran, ran[1:], strict=False):
        assert before.stats is not None and phase.stats is not None
        prev, now = before.stats.overall, phase.stats.overall
        if prev.requests < _MIN_REQUESTS or not prev.rps or now.rps >= DROP * prev.rps:
            continue
        out.append(
            f"phase {phase.name}: {now.rps:g} req/s, {now.rps / prev.rps:.0%} of phase "
            f"{before.name}'s {prev.rps:g}: with closed-loop load each shopper waits for its "
            "answer, so a hung instance (paused, no timeout) stalls them and this phase's "
            f"expectations judged only the {now.requests} requests sent; "
            "load.arrival_rate (open loop) keeps sending and shows a hang as failures"
        )
    return out


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _iso(timeline: Timeline) -> str | None:
    if not timeline.origin:
        return None
    return datetime.fromtimestamp(timeline.origin, tz=UTC).isoformat(timespec="seconds")
