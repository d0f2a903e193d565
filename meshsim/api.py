"""meshsim from Python: load a scenario, run it, read the report as tables.

The same run as `meshsim up`, for notebooks and scripts. Nothing here prints:
progress reaches you through run events, as a handler object (a
`RunEventHandler` subclass) or a plain callback that receives `RunEvent`s.

>>> import meshsim
>>> result = meshsim.run("scenarios/canary.yaml", time_scale=0.2)   # doctest: +SKIP
>>> result.verdict, result.exit_code                               # doctest: +SKIP
('pass', 0)
>>> result.phases_df()[["phase", "rps", "p99_ms", "error_rate"]]    # doctest: +SKIP

Inside Jupyter, whose own event loop is already running, the mesh runs on an
event loop of its own in a worker thread; interrupting the cell stops the run
cleanly (every process is stopped and the report covers what ran).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim.events import EventBus, Progress, RunEventHandler, RunInfo
from meshsim.frames import (
    edge_rows,
    edges_df,
    expectation_rows,
    expectations_df,
    journeys_df,
    phase_rows,
    phases_df,
    served_df,
    timeline_df,
    to_dataframes,
)
from meshsim.library import resolve_scenario
from meshsim.report import build_report
from meshsim.report.model import ExpectationResult, PhaseReport, Report
from meshsim.runner import Runner, RunOptions, RunResult, _main
from meshsim.scenario import load_scenario
from meshsim.scenario.model import Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CallbackEvents",
    "RunEvent",
    "RunOptions",
    "RunReport",
    "Scenario",
    "load_report",
    "load_scenario",
    "run",
]


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened during a run, for a callback.

    `kind` is the `RunEventHandler` method it came from (`run_started`, `step`,
    `mesh_ready`, `phase_started`, `progress`, `policy_applied`, `action_done`,
    `phase_settled`, `phase_ended`, `warning`, `run_finished`); `message` says
    it in one line; `data` holds the values (for `progress`: phase, elapsed_s,
    planned_s, requests, failures, rps, p99_ms). `progress` comes twice a
    second; the others once each.
    """

    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


class CallbackEvents(RunEventHandler):
    """Turns each run event into a `RunEvent` passed to `callback`.

    >>> run("scenarios/baseline.yaml", events=lambda e: e.kind != "progress" and print(e))  # doctest: +SKIP
    """

    def __init__(self, callback: Callable[[RunEvent], object]) -> None:
        self.callback = callback

    def _emit(self, kind: str, text: str, /, **data: Any) -> None:
        self.callback(RunEvent(kind, text, data))

    def run_started(self, run: RunInfo) -> None:
        self._emit(
            "run_started",
            f"run {run.run_id}: scenario {run.scenario}, {len(run.instances)} instances "
            f"({run.runtime}), run directory {run.run_dir}",
            run_id=run.run_id,
            run_dir=run.run_dir,
            scenario=run.scenario,
            instances=list(run.instances),
            ingress_url=run.ingress_url,
        )

    def step(self, message: str) -> None:
        self._emit("step", message)

    def mesh_ready(self, run: RunInfo, ready_s: float) -> None:
        self._emit(
            "mesh_ready",
            f"mesh ready in {ready_s:.1f}s; ingress gateway at {run.ingress_url}",
            ready_s=ready_s,
            ingress_url=run.ingress_url,
        )

    def phase_started(self, name: str, index: int, planned_s: float) -> None:
        self._emit(
            "phase_started",
            f"phase {index + 1} {name}: {planned_s:.1f}s",
            phase=name,
            index=index,
            planned_s=planned_s,
        )

    def progress(self, snapshot: Progress) -> None:
        p99 = "-" if snapshot.p99_ms is None else f"{snapshot.p99_ms:.1f} ms"
        self._emit(
            "progress",
            f"{snapshot.phase}: {snapshot.elapsed_s:.1f}/{snapshot.planned_s:.1f}s, "
            f"{snapshot.requests} requests, {snapshot.rps:.0f} rps, "
            f"errors {snapshot.error_rate:.1%}, p99 {p99}",
            **asdict(snapshot),
        )

    def policy_applied(self, phase: str, resources: list[str], took_s: float) -> None:
        self._emit(
            "policy_applied",
            f"{phase}: {', '.join(resources)} in force in every Envoy after {took_s * 1000:.0f} ms",
            phase=phase,
            resources=list(resources),
            took_s=took_s,
        )

    def action_done(self, phase: str, action: str, target: str) -> None:
        self._emit(
            "action_done", f"{phase}: {action} {target}", phase=phase, action=action, target=target
        )

    def phase_settled(self, name: str, index: int, settle_s: float) -> None:
        self._emit(
            "phase_settled",
            f"phase {name} settled after {settle_s:g}s: its expectations are judged from here",
            phase=name,
            index=index,
            settle_s=settle_s,
        )

    def phase_ended(self, name: str, index: int, status: str) -> None:
        self._emit("phase_ended", f"phase {name} {status}", phase=name, index=index, status=status)

    def warning(self, message: str) -> None:
        self._emit("warning", f"warning: {message}", message=message)

    def run_finished(self, run: RunInfo, status: str, report: Any | None) -> None:
        verdict = getattr(report, "verdict", None)
        self._emit(
            "run_finished",
            f"run {status}" + (f": {verdict}" if verdict else ""),
            status=status,
            verdict=verdict,
        )


Events = RunEventHandler | Callable[[RunEvent], object] | None


def _handler(events: Events) -> RunEventHandler:
    if events is None:
        return RunEventHandler()
    if isinstance(events, RunEventHandler):
        return events
    if callable(events):
        return CallbackEvents(events)
    raise TypeError(f"events: expected a RunEventHandler or a callable, got {events!r}")


@dataclass
class RunReport:
    """What a run left: how it ended, its report, and the report as tables.

    Attributes mirror report.json (docs/report.md): `phases` and their
    `edges` and `expectations`, `verdict`, `timeline`. `status` says how the
    run ended (`completed`, `interrupted`, `error`); `error` is the message
    when the mesh could not run; `exit_code` is what `meshsim up` would exit with.
    """

    report: Report
    status: str
    exit_code: int
    run_dir: Path
    error: str | None = None
    files: list[Path] = field(default_factory=list)

    @classmethod
    def from_result(cls, result: RunResult) -> RunReport:
        report = result.report if result.report is not None else build_report(result.run_dir)
        return cls(
            report,
            result.status,
            result.exit_code,
            result.run_dir,
            result.error,
            list(result.report_files),
        )

    # -- the report's own keys

    @property
    def scenario(self) -> str:
        return self.report.scenario

    @property
    def verdict(self) -> str:
        """`pass` or `fail` (docs/report.md, "The verdict")."""
        return self.report.verdict

    @property
    def passed(self) -> bool:
        return self.report.verdict == "pass" and self.status == "completed"

    @property
    def phases(self) -> list[PhaseReport]:
        return self.report.phases

    @property
    def expectations(self) -> list[tuple[PhaseReport, ExpectationResult]]:
        """(phase, expectation) for every expectation of every phase."""
        return self.report.expectations

    @property
    def failed_expectations(self) -> list[tuple[PhaseReport, ExpectationResult]]:
        return self.report.failed_expectations

    @property
    def edges(self) -> list[dict[str, Any]]:
        """Every phase's edges (caller → callee counters from Envoy), each with its `phase`."""
        return edge_rows(self.report)

    def phase(self, name: str) -> PhaseReport:
        from meshsim.frames import phase_report

        return phase_report(self.report, name)

    def to_dict(self) -> dict[str, Any]:
        """report.json's content."""
        return self.report.to_dict()

    # -- tables

    def phase_rows(self) -> list[dict[str, Any]]:
        return phase_rows(self.report)

    def expectation_rows(self) -> list[dict[str, Any]]:
        return expectation_rows(self.report)

    def phases_df(self) -> pd.DataFrame:
        """One row per phase: requests, error_rate, rps, p50_ms … max_ms, passed, policy."""
        return phases_df(self.report)

    def timeline_df(self) -> pd.DataFrame:
        """One row per second: t_s, phase, requests, failures, rps, error_rate, p50_ms, p99_ms."""
        return timeline_df(self.report)

    def edges_df(self) -> pd.DataFrame:
        """One row per phase and edge: source, destination, destination_version, requests,
        errors, error_rate, retries, timeouts, pending_overflow, ejections, faults, denied,
        no_cluster, unclassified."""
        return edges_df(self.report)

    def expectations_df(self) -> pd.DataFrame:
        """One row per expectation: phase, expr, passed, observed, expected, unit, note."""
        return expectations_df(self.report)

    def served_df(self) -> pd.DataFrame:
        """Requests served per phase, service and version, with each version's share."""
        return served_df(self.report)

    def journeys_df(self) -> pd.DataFrame:
        """Per phase and journey (browse, place_order, a legacy client...): requests,
        failures, error_rate, rps, p50_ms, p99_ms."""
        return journeys_df(self.report)

    def to_dataframes(self) -> dict[str, pd.DataFrame]:
        """{"phases", "timeline", "edges", "expectations", "served", "journeys"} → DataFrame."""
        return to_dataframes(self.report)

    def __repr__(self) -> str:
        held = sum(e.passed for _, e in self.expectations)
        return (
            f"<RunReport {self.scenario}: {self.verdict}, {self.status}, "
            f"{held}/{len(self.expectations)} expectations held, {self.run_dir}>"
        )


def load_report(run_dir: str | Path) -> RunReport:
    """The report of a finished or interrupted run directory, as `run` returns it."""
    report = build_report(Path(run_dir))
    return RunReport(report, report.status, report.exit_code, Path(run_dir))


def run(
    scenario: str | Path,
    *,
    ingress_port: int | None = 0,
    time_scale: float = 1.0,
    run_dir: str | Path | None = None,
    report_dir: str | Path | None = None,
    runtime: str = "local",
    keep: bool = False,
    events: Events = None,
) -> RunReport:
    """Run a scenario file from start to report, as `meshsim up` does. As
    there, a library scenario's name (`"canary"`) works in place of a path.

    - `ingress_port`: 0 (the default here) takes a free port, so a notebook
      never collides with another mesh; None uses the scenario's (else 8080).
    - `time_scale`: multiply every phase's duration (0.2: five times shorter).
    - `run_dir`: where the run's files go (default ./meshsim-runs/<run id>).
    - `events`: a `RunEventHandler`, or a callback receiving `RunEvent`s.

    Raises `ScenarioError(s)` for an invalid scenario; the mesh failing to run
    is not an exception but `status == "error"` with `error` saying why (the
    report still covers what ran). Works inside Jupyter's running event loop.

    >>> result = run("scenarios/baseline.yaml", time_scale=0.3, events=print)  # doctest: +SKIP
    """
    if time_scale <= 0:
        raise ValueError("time_scale must be greater than zero")
    options = RunOptions(
        runtime=runtime,
        run_dir=Path(run_dir) if run_dir is not None else None,
        report_dir=Path(report_dir) if report_dir is not None else None,
        keep=keep,
        ingress_port=ingress_port,
        time_scale=time_scale,
    )
    handler = _handler(events)
    runner = Runner(resolve_scenario(scenario), options, EventBus([handler]))
    if keep:
        _quiet_kept_children()
    return RunReport.from_result(_execute(runner))


class _KeptChildExit(logging.Filter):
    """asyncio's child watcher outlives the run's event loop for a kept mesh's
    processes; when `meshsim down` later stops them it logs "Loop ... that
    handles pid ... is closed" for each. Expected, so not worth a line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Loop %r that handles pid %r is closed")


def _quiet_kept_children() -> None:
    log = logging.getLogger("asyncio")
    if not any(isinstance(f, _KeptChildExit) for f in log.filters):
        log.addFilter(_KeptChildExit())


def _execute(runner: Runner) -> RunResult:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_main(runner))
    return _in_worker_thread(runner)


def _in_worker_thread(runner: Runner) -> RunResult:
    """`asyncio.run` refuses to start inside a running loop (Jupyter's): run the
    mesh on a loop of its own in a worker thread, and turn a KeyboardInterrupt
    (the notebook's stop button) into a clean stop of the run."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = asyncio.run(_main(runner))
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="meshsim-run", daemon=True).start()
    # Waiting on an Event, not Thread.join: a KeyboardInterrupt inside join()
    # can leave the thread looking finished while it still runs (CPython gh-90882).
    while not done.is_set():
        try:
            done.wait(0.2)
        except KeyboardInterrupt:
            runner.interrupt(signal.SIGINT)
    if "error" in outcome:
        raise outcome["error"]
    result: RunResult = outcome["result"]
    return result
