"""From a run directory to a `Report`: read, split by phase, measure, judge.

Pure: it reads files and returns a value. Building the same directory twice
gives the same report, which is what `meshsim report RUN_DIR` relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim.load.records import RequestRecord
from meshsim.report.expectations import after_settle, evaluate, never_settled, result
from meshsim.report.model import (
    PHASE_NOT_RUN,
    ExpectationResult,
    PhaseReport,
    Report,
    SettledReport,
)
from meshsim.scenario.expect import parse_expectation
from meshsim.scenario.loader import load_scenario
from meshsim.scenario.model import Scenario
from tests.report.eager.inputs import RunInputs, read_run_dir
from tests.report.eager.stats import PhaseStats, phase_stats, time_series
from tests.report.eager.windows import (
    INCOMPLETE,
    PhaseWindow,
    Timeline,
    assign_to_phases,
    build_timeline,
    settled_window,
)

if TYPE_CHECKING:
    from meshsim.telemetry.traces import Trace


def build_report(run_dir: Path, *, bucket_s: float = 1.0) -> Report:
    """Build the report of the run in `run_dir` (finished or cut short).

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
    timeline = build_timeline(inputs.events, inputs.requests)
    windows = _match_windows(scenario, timeline.phases)
    ran = [w for _, w, _ in windows if w is not None]
    buckets = dict(zip((id(w) for w in ran), assign_to_phases(inputs.requests, ran), strict=True))

    observed = _Observed(inputs.run_dir, ran)
    cohorts = [c.name for c in scenario.load.cohorts] if scenario else []
    phases: list[PhaseReport] = []
    for index, (name, window, expect) in enumerate(windows):
        if window is None:
            phases.append(_not_run(name, index, scenario, expect))
            continue
        stats = phase_stats(buckets[id(window)], window.duration_s, cohorts)
        edges = inputs.edges.get(window.name) if inputs.edges is not None else None
        settled = _settled(window, buckets[id(window)], inputs, timeline.origin, cohorts)
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

    in_phases = [r for window in ran for r in buckets[id(window)]]
    totals = phase_stats(in_phases, sum(w.duration_s for w in ran)).overall
    return Report(
        run_id=_text(inputs.meta, "run_id") or inputs.run_dir.name,
        scenario=_text(inputs.meta, "scenario") or (scenario.name if scenario else "?"),
        scenario_file=_text(inputs.meta, "scenario_file"),
        runtime=_text(inputs.meta, "runtime") or "?",
        started_at=_text(inputs.meta, "started_at") or _iso(timeline),
        ready_s=_float(inputs.meta.get("ready_s")),
        ingress_url=_text(inputs.meta, "ingress_url"),
        status=timeline.status,
        error=timeline.error,
        duration_s=round(timeline.end - timeline.origin, 3),
        phases=phases,
        totals=totals,
        timeline=time_series(inputs.requests, timeline.origin, timeline.end, bucket_s),
        bucket_s=bucket_s,
        run_dir=str(inputs.run_dir),
        warnings=_warnings(inputs, timeline),
    )


class _Observed:
    """What the proxies saw, per phase: the service graph from the edges and
    the critical path of the slowest traces (traces.jsonl), if there are any."""

    def __init__(self, run_dir: Path, windows: list[PhaseWindow]) -> None:
        # imported here: the telemetry readers use the report's phase windows
        from meshsim.rundir import RunDir
        from meshsim.telemetry.runfiles import read_plan
        from meshsim.telemetry.traces import assemble, read_spans
        from meshsim.topology import declared_graph

        plan = read_plan(run_dir)
        self.declared = declared_graph(
            list(plan.services) if plan and plan.services else None,
            app=plan.app if plan else None,
        )
        self.traces: dict[int, list[Trace]] = {}
        spans = read_spans(RunDir(run_dir).traces)
        if spans:
            for trace in assemble(spans):
                t = trace.start_us / 1e6
                for window in windows:
                    if window.start <= t < window.end:
                        self.traces.setdefault(id(window), []).append(trace)
                        break

    def graph(self, edges: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        from meshsim.topology import service_graph

        if edges is None:
            return None
        return service_graph(edges, self.declared).to_dict()

    def critical_path(self, window: PhaseWindow) -> dict[str, Any] | None:
        traces = self.traces.get(id(window))
        from meshsim.telemetry.traces import critical_path_summary

        if not traces:
            return None
        return {"traced": len(traces), **critical_path_summary(traces)}


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
    requests: list[RequestRecord],
    inputs: RunInputs,
    origin: float,
    cohorts: list[str],
) -> SettledReport | None:
    """The phase after its settle (phases.jsonl says where it began); None without one."""
    part = settled_window(window)
    if part is None:
        return None
    if part.start is None:
        return SettledReport(part.settle_s, None, None, None)
    start = part.start
    return SettledReport(
        settle_s=part.settle_s,
        start_s=round(start - origin, 3),
        end_s=round(part.end - origin, 3),
        stats=phase_stats([r for r in requests if r.t >= start], part.duration_s, cohorts),
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


def _warnings(inputs: RunInputs, timeline: Timeline) -> list[str]:
    warnings = list(inputs.warnings)
    for window in timeline.phases:
        if window.status == INCOMPLETE:
            warnings.append(
                f"phases.jsonl: phase {window.name} has no phase_end although the run "
                "ended: the file lost lines (cut or edited); the phase is shown as incomplete"
            )
    if timeline.phases and not inputs.requests:
        warnings.append("no requests were recorded: is the load generator running?")
    return warnings


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _iso(timeline: Timeline) -> str | None:
    if not timeline.origin:
        return None
    return datetime.fromtimestamp(timeline.origin, tz=UTC).isoformat(timespec="seconds")
