"""How each exercise is judged, without starting a mesh.

- What a scenario says (`written`): every reference solution holds; each
  tempting wrong fix that can be seen in the YAML (the fault deleted, a
  weight instead of a header match, a mesh-wide PERMISSIVE) is rejected with
  its explanation, before any run.
- What a run showed (`observed`), on evidence recorded from real runs
  (tests/exercise/record.py: the solutions, and the wrong fixes that read
  right): the solutions are solved, the wrong fixes are not, each for its
  reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshsim.exercise.catalog import exercises, find_exercise
from meshsim.exercise.evidence import Evidence, Probe
from meshsim.exercise.grade import judge_observed, judge_written
from meshsim.scenario import load_scenario

HERE = Path(__file__).parent
WRONG = HERE / "wrong"
RECORDED = HERE / "recorded"

# wrong fix -> what the check must say (rejected before running)
REJECTED_AS_WRITTEN = {
    "01-replicas": "a share from instance counts is round-robin luck",
    "01-weight-50": "sends 50 % to subset v2; the task is 20 %",
    "02-weight-25": "picked at random",
    "03-fault-removed": "the abort is gone",
    "03-fault-weakened": "the abort now fails 1 % of the calls; the task keeps 20 %",
    "04-delay-removed": "the delay is gone",
    "04-delay-at-caller": "runs before the route's timeout starts",
    "05-kill-removed": "the kill is gone",
    "05-retries-on": "retries are back on",
    "06-mesh-permissive": "is no longer STRICT",
    "06-namespace-permissive": "plaintext is accepted beyond product: namespace default",
    "07-no-policy": "no AuthorizationPolicy applies to product",
    "08-virtualservice-kept": "VirtualService product still routes product",
    "08-gateway-parent": "routes the ingress's calls, not order's",
}
# wrong fix that reads right -> what the run shows
REJECTED_AS_RUN = {
    "03-retries-at-caller": "Istio issue 13705",
    "04-timeout-too-long": "no call to product timed out",
    "05-never-ejects": "no instance was ejected",
    "06-no-exception": "of legacy requests failed",
    "07-allow-get": "user still reaches product",
    "07-deny-all": "order is locked out too",
}


def _written(scenario: Path, number: int) -> list[tuple[bool, str]]:
    ex = find_exercise(number)
    return [(f.ok, f.text) for f in judge_written(ex, Evidence(load_scenario(scenario)))]


@pytest.mark.parametrize("ex", exercises(), ids=lambda e: e.slug)
def test_every_solution_reads_right(ex: object) -> None:
    from meshsim.exercise.catalog import Exercise

    assert isinstance(ex, Exercise)
    findings = _written(ex.solution, ex.number)
    assert findings and all(ok for ok, _ in findings), findings


@pytest.mark.parametrize("name", sorted(REJECTED_AS_WRITTEN))
def test_wrong_fix_rejected_before_running(name: str) -> None:
    findings = _written(WRONG / f"{name}.yaml", int(name[:2]))
    failed = [text for ok, text in findings if not ok]
    assert any(REJECTED_AS_WRITTEN[name] in text for text in failed), findings


@pytest.mark.parametrize("name", sorted(REJECTED_AS_RUN))
def test_run_only_wrong_fix_reads_right(name: str) -> None:
    """These pass the reading, so only the run can reject them (below)."""
    findings = _written(WRONG / f"{name}.yaml", int(name[:2]))
    assert all(ok for ok, _ in findings), findings


def test_a_renamed_judged_phase_is_named() -> None:
    ex = find_exercise(3)
    text = ex.solution.read_text().replace("- name: fix", "- name: fixed")
    scenario = load_scenario_text(text)
    findings = judge_written(ex, Evidence(scenario))
    assert [f.text for f in findings] == [
        "phase fix is gone: the task is judged on it; keep its name"
    ]


def load_scenario_text(text: str) -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(text)
        return load_scenario(path)


def _recorded(name: str, scenario: Path) -> list[tuple[bool, str]]:
    data = json.loads((RECORDED / f"{name}.json").read_text())
    evidence = Evidence(
        load_scenario(scenario), data["report"], [Probe(**p) for p in data["probes"]]
    )
    return [(f.ok, f.text) for f in judge_observed(find_exercise(name[:2]), evidence)]


@pytest.mark.parametrize("ex", exercises(), ids=lambda e: e.slug)
def test_every_solution_solved_on_its_recorded_run(ex: object) -> None:
    from meshsim.exercise.catalog import Exercise

    assert isinstance(ex, Exercise)
    findings = _recorded(f"{ex.number:02d}-solution", ex.solution)
    assert findings and all(ok for ok, _ in findings), findings


@pytest.mark.parametrize("name", sorted(REJECTED_AS_RUN))
def test_run_only_wrong_fix_rejected_on_its_recorded_run(name: str) -> None:
    findings = _recorded(name, WRONG / f"{name}.yaml")
    failed = [text for ok, text in findings if not ok]
    assert any(REJECTED_AS_RUN[name] in text for text in failed), findings


def test_observed_judges_a_phase_that_did_not_complete() -> None:
    ex = find_exercise(3)
    report = {
        "phases": [
            {"name": "fault", "status": "completed"},
            {"name": "fix", "status": "interrupted"},
        ]
    }
    findings = judge_observed(ex, Evidence(load_scenario(ex.solution), report))
    assert [(f.ok, f.text) for f in findings] == [
        (False, "phase fix did not complete (interrupted)")
    ]


def test_authz_probe_without_answer_is_said() -> None:
    ex = find_exercise(7)
    report = {"phases": [{"name": "lockdown", "status": "completed", "journeys": {}}]}
    probes = [Probe("user", "GET", "http://product/products", None, "sidecar did not answer")]
    texts = [
        f.text for f in judge_observed(ex, Evidence(load_scenario(ex.solution), report, probes))
    ]
    assert "the probe as user got no answer: sidecar did not answer" in texts
    assert "the probe as order got no answer: not sent" in texts
