"""The report model: one run, its phases, their numbers and verdicts.

`Report.to_dict()` is report.json (documented key by key in docs/report.md).
Its keys are a contract CI pipelines rely on: add keys, never change what an
existing one means, and bump `SCHEMA_VERSION` only for a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshsim.report.stats import PhaseStats, TimelinePoint, Traffic
from meshsim.timeline import INCOMPLETE

SCHEMA_VERSION = 1
PASS, FAIL = "pass", "fail"
RUN_COMPLETED = "completed"
RUN_ERROR = "error"  # the mesh could not run (exit code 3)
PHASE_NOT_RUN = "not_run"
PHASE_INCOMPLETE = INCOMPLETE  # a file of the run lost data: never shown as completed


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation of one phase, evaluated."""

    expr: str  # as written in the scenario
    observed: float | None  # in `unit`; None when nothing could be measured
    passed: bool
    unit: str = ""  # "ms" | "fraction" | "" (a count or a rate per second)
    note: str | None = None  # why observed is None, or why it was not evaluated
    metric: str | None = None
    scope: str = "all"
    target: str | None = None
    op: str | None = None
    expected: float | None = None
    tolerance: float | None = None
    skipped: bool = False  # the phase never ran
    settle_s: float | None = None  # judged on the phase after this settle (None: the whole phase)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "expr": self.expr,
            "observed": self.observed,
            "passed": self.passed,
            "unit": self.unit,
            "metric": self.metric,
            "scope": self.scope,
            "target": self.target,
            "op": self.op,
            "expected": self.expected,
            "tolerance": self.tolerance,
        }
        if self.note:
            out["note"] = self.note
        if self.skipped:
            out["skipped"] = True
        if self.settle_s is not None:
            out["settle_s"] = self.settle_s
        return out


class _Window:
    """A stretch of a run with its statistics: a phase, or its settled part."""

    start_s: float | None  # seconds since the run started
    end_s: float | None
    stats: PhaseStats | None

    @property
    def duration_s(self) -> float | None:
        if self.start_s is None or self.end_s is None:
            return None
        return round(self.end_s - self.start_s, 3)

    @property
    def traffic(self) -> Traffic:
        return self.stats.overall if self.stats else Traffic()


@dataclass
class SettledReport(_Window):
    """The part of a phase after its `settle`: what its expectations judged.

    The phase's own numbers (PhaseReport) still cover the whole phase."""

    settle_s: float
    start_s: float | None  # seconds since the run started; None: the phase ended before it
    end_s: float | None
    stats: PhaseStats | None  # None when the settle point was never reached
    edges: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settle_s": self.settle_s,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            **self.traffic.to_dict(),
            "served": self.stats.served if self.stats else {},
            "edges": self.edges,
        }


@dataclass
class PhaseReport(_Window):
    name: str
    index: int
    status: str  # completed | interrupted | incomplete | not_run
    start_s: float | None  # seconds since the run started; None when not run
    end_s: float | None
    planned_s: float | None
    stats: PhaseStats | None  # None when the phase never ran
    edges: list[dict[str, Any]] = field(default_factory=list)
    # the phase's policy change, if any: {resources, took_s, effective_s}
    policy: dict[str, Any] | None = None
    expectations: list[ExpectationResult] = field(default_factory=list)
    # the service graph, declared vs observed (meshsim.topology); None without edges
    graph: dict[str, Any] | None = None
    # where the time went on the slowest traces (meshsim.telemetry.traces); None without spans
    critical_path: dict[str, Any] | None = None
    # the part after the phase's `settle`, which its expectations judged; None without one
    settled: SettledReport | None = None

    @property
    def passed(self) -> bool:
        return self.status == RUN_COMPLETED and all(e.passed for e in self.expectations)

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "name": self.name,
            "index": self.index,
            "status": self.status,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            "planned_s": self.planned_s,
            **self.traffic.to_dict(),
            "served": stats.served if stats else {},
            "endpoints": {k: t.to_dict() for k, t in stats.endpoints.items()} if stats else {},
            "journeys": {k: t.to_dict() for k, t in stats.journeys.items()} if stats else {},
            # only with load.cohorts, so reports of runs without them keep their keys
            **(
                {"cohorts": {k: c.to_dict() for k, c in stats.cohorts.items()}}
                if stats and stats.cohorts
                else {}
            ),
            "versions": {k: t.to_dict() for k, t in stats.versions.items()} if stats else {},
            "status_codes": stats.status_codes if stats else {},
            "errors": [{"error": e, "count": n} for e, n in stats.errors] if stats else [],
            "edges": self.edges,
            "policy": self.policy,
            "graph": self.graph,
            "critical_path": self.critical_path,
            "settled": self.settled.to_dict() if self.settled else None,
            "expectations": [e.to_dict() for e in self.expectations],
        }


@dataclass
class Report:
    """A finished (or cut-short) run, ready to be written or printed."""

    run_id: str
    scenario: str
    scenario_file: str | None
    runtime: str
    started_at: str | None
    ready_s: float | None
    ingress_url: str | None
    status: str  # the run's end: completed | interrupted | error
    duration_s: float
    phases: list[PhaseReport]
    totals: Traffic
    timeline: list[TimelinePoint]
    bucket_s: float = 1.0
    run_dir: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # status "error": why the mesh could not run, naming the component
    # the collector's trace-keeping policy and counts (meshsim.telemetry.keeping); None without
    trace_keeping: dict[str, Any] | None = None

    @property
    def interrupted(self) -> bool:
        """The run, or one of its phases, did not finish as planned."""
        return self.status != RUN_COMPLETED or any(p.status != RUN_COMPLETED for p in self.phases)

    @property
    def expectations(self) -> list[tuple[PhaseReport, ExpectationResult]]:
        return [(p, e) for p in self.phases for e in p.expectations]

    @property
    def failed_expectations(self) -> list[tuple[PhaseReport, ExpectationResult]]:
        """Expectations that were evaluated and did not hold."""
        return [(p, e) for p, e in self.expectations if not e.passed and not e.skipped]

    @property
    def verdict(self) -> str:
        """The verdict: pass only when the run completed and every expectation held."""
        held = all(e.passed for _, e in self.expectations)
        return PASS if held and not self.interrupted else FAIL

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this run: 0 pass, 1 fail, 3 the mesh could not run."""
        if self.status == RUN_ERROR:
            return 3
        return 0 if self.verdict == PASS else 1

    def to_dict(self) -> dict[str, Any]:
        results = [e for _, e in self.expectations]
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "scenario": self.scenario,
            "scenario_file": self.scenario_file,
            "runtime": self.runtime,
            "started_at": self.started_at,
            "ready_s": self.ready_s,
            "ingress_url": self.ingress_url,
            "status": self.status,
            "error": self.error,
            "interrupted": self.interrupted,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "expectation_counts": {
                "total": len(results),
                "passed": sum(e.passed for e in results),
                "failed": sum(not e.passed and not e.skipped for e in results),
                "skipped": sum(e.skipped for e in results),
            },
            "totals": self.totals.to_dict(),
            "phases": [p.to_dict() for p in self.phases],
            "timeline": {
                "bucket_s": self.bucket_s,
                "points": [point.to_dict() for point in self.timeline],
            },
            "warnings": list(self.warnings),
            "trace_keeping": self.trace_keeping,
        }
