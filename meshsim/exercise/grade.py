"""`meshsim exercise check N`: judge the learner's scenario.

Read it (a bad scenario is exit 2, as for `meshsim up`), judge what it says
(`Check.written`); only if that holds, run it time-scaled on the local
runtime, send the check's probe requests as workloads once the judged phase
has settled in, and judge what happened (`Check.observed`). The learner's
own `expect` lines are reported too, but they decide nothing: a scenario can
meet its expectations for the wrong reason, which is what the check is for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from meshsim.errors import MeshError, UsageError
from meshsim.exercise.catalog import SCENARIO_FILE, Exercise, default_dir
from meshsim.exercise.checks import CHECKS, Check, ProbeSpec
from meshsim.exercise.evidence import Evidence, Finding, Probe, bad
from meshsim.scenario import load_scenario

DEFAULT_TIME_SCALE = 0.5
PROBE_AT = 0.6  # the probes go when this much of the judged phase has passed


@dataclass
class Verdict:
    exercise: Exercise
    scenario: Path
    findings: list[Finding] = field(default_factory=list)
    ran: bool = False
    run_dir: Path | None = None
    expectations: list[tuple[str, str, bool]] = field(default_factory=list)  # phase, expr, held
    evidence: Evidence | None = None

    @property
    def solved(self) -> bool:
        return self.ran and bool(self.findings) and all(f.ok for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.solved else 1


def learner_scenario(ex: Exercise, directory: Path | None) -> Path:
    path = (directory if directory is not None else default_dir(ex)) / SCENARIO_FILE
    if not path.is_file():
        raise UsageError(
            f"{path}: no such file; start the exercise with `meshsim exercise start "
            f"{ex.number}{f' --dir {directory}' if directory is not None else ''}`"
        )
    return path


def judge_written(ex: Exercise, evidence: Evidence) -> list[Finding]:
    phase = ex.judged_phase
    if phase not in evidence.phase_names():
        return [bad(f"phase {phase} is gone: the task is judged on it; keep its name")]
    return CHECKS[ex.slug].written(evidence, phase)


def judge_observed(ex: Exercise, evidence: Evidence) -> list[Finding]:
    status = evidence.phase(ex.judged_phase).get("status")
    if status != "completed":
        return [bad(f"phase {ex.judged_phase} did not complete ({status or 'not run'})")]
    return CHECKS[ex.slug].observed(evidence, ex.judged_phase)


def check(
    ex: Exercise,
    directory: Path | None = None,
    *,
    time_scale: float = DEFAULT_TIME_SCALE,
    run_dir: Path | None = None,
    say: Callable[[str], object] | None = None,
) -> Verdict:
    """Judge the learner's copy of `ex` in `directory`; `say` gets one line
    per step of the run (mesh ready, each phase), for a terminal."""
    path = learner_scenario(ex, directory)
    evidence = Evidence(load_scenario(path))  # ScenarioError(s): exit 2, naming file and line
    verdict = Verdict(ex, path, judge_written(ex, evidence), evidence=evidence)
    if not all(f.ok for f in verdict.findings):
        return verdict  # passing it would be passing for the wrong reason; not worth a run
    spec = CHECKS[ex.slug]
    import meshsim.api as api

    prober = _Prober(spec, ex.judged_phase, run_dir, say)
    result = api.run(path, time_scale=time_scale, run_dir=run_dir, events=prober)
    if result.status == "error":
        raise MeshError(f"the mesh could not run the exercise: {result.report.error}")
    verdict.ran, verdict.run_dir = True, result.run_dir
    evidence.report = result.to_dict()
    evidence.probes = prober.results
    verdict.findings += judge_observed(ex, evidence)
    verdict.expectations = [
        (p.name, e.expr, e.passed) for p, e in result.expectations if e.passed is not None
    ]
    return verdict


class _Prober:
    """A run-event callback that sends the check's probes once, part-way
    through the judged phase, through the sidecars of the running mesh."""

    SAID = ("mesh_ready", "phase_started", "phase_ended", "warning")

    def __init__(
        self,
        check: Check,
        phase: str,
        run_dir: Path | None,
        say: Callable[[str], object] | None = None,
    ) -> None:
        self.say = say
        self.specs: list[ProbeSpec] = check.probes
        self.phase = phase
        self.run_dir = run_dir
        self.results: list[Probe] = []
        self._sent = threading.Event()

    def __call__(self, event: object) -> None:
        kind = getattr(event, "kind", "")
        data = getattr(event, "data", {}) or {}
        if self.say is not None and kind in self.SAID:
            self.say(f"  · {getattr(event, 'message', '')}")
        if kind == "run_started" and self.run_dir is None:
            where = data.get("run_dir")
            self.run_dir = Path(str(where)) if where else None
        if kind != "progress" or not self.specs or self._sent.is_set():
            return
        if data.get("phase") != self.phase:
            return
        planned = float(data.get("planned_s") or 0.0)
        if float(data.get("elapsed_s") or 0.0) >= PROBE_AT * planned:
            self._sent.set()
            self.results = [self._send(s) for s in self.specs]
            if self.say is not None:
                for p in self.results:
                    self.say(f"  · probe as {p.who}: {p.method} {p.url} → {p.status or p.error}")

    def _send(self, spec: ProbeSpec) -> Probe:
        from meshsim.errors import MeshsimError
        from meshsim.request_as import request_as

        try:
            got = request_as(spec.who, spec.method, spec.url, run_dir=self.run_dir, timeout=5.0)
        except MeshsimError as exc:
            return Probe(spec.who, spec.method, spec.url, None, str(exc))
        return Probe(spec.who, spec.method, spec.url, got.status)
