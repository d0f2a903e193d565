"""`meshsim exercise check`, end to end on real meshes: every exercise's
reference solution is solved (exit 0), and each wrong fix that reads right
is run and rejected (exit 1) with its explanation. Wrong fixes visible in the
YAML are rejected before any run: tests/exercise/test_judging.py.

A wrong fix in `PROVEN_ELSEWHERE` is not run here (about 30 s of CI each): its
recorded run proves that the check rejects it with its reason
(test_judging.py), and the mesh behaviour that rejects it is an expectation
of a scenario CI runs anyway, which the fast test below keeps in place.

Time-scaled 0.5 (the command's default): each run is about 15 s of phases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.exercise.catalog import exercises, find_exercise
from meshsim.scenario import load_scenario
from tests.exercise.test_judging import REJECTED_AS_RUN, WRONG

# wrong fix -> (scenario, phase, expectation) that shows the same behaviour
PROVEN_ELSEWHERE = {
    # Istio issue 13705: a fault in the caller's sidecar is not retried
    "03-retries-at-caller": (
        "scenarios/retries.yaml",
        "fault-at-caller",
        "edge(order->product).error_rate = 20% ± 10%",
    ),
    # mesh-wide STRICT without an exception locks the plaintext client out
    "06-no-exception": (
        "scenarios/mtls-migration.yaml",
        "strict",
        "journey(legacy).error_rate > 90%",
    ),
    # an ALLOW policy without rules allows nothing
    "07-deny-all": (
        "scenarios/istio-tasks/authorization-http.yaml",
        "allow-nothing",
        "error_rate > 95%",
    ),
}
RUN_HERE = sorted(set(REJECTED_AS_RUN) - set(PROVEN_ELSEWHERE))
REPO = Path(__file__).parents[2]


def _check(number: int, scenario: Path, work: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(scenario, work / "scenario.yaml")
    return subprocess.run(
        [sys.executable, "-m", "meshsim.cli", "exercise", "check", str(number), "--dir", "."],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("number", [e.number for e in exercises()])
def test_reference_solution_is_solved(number: int, tmp_path: Path) -> None:
    result = _check(number, find_exercise(number).solution, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗" not in result.stdout and "solved. The lesson" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_HERE)
def test_wrong_fix_is_run_and_rejected_with_its_reason(name: str, tmp_path: Path) -> None:
    result = _check(int(name[:2]), WRONG / f"{name}.yaml", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert REJECTED_AS_RUN[name] in result.stdout, result.stdout
    assert "not solved yet" in result.stdout and "notebooks/" in result.stdout


@pytest.mark.parametrize("name", sorted(PROVEN_ELSEWHERE))
def test_a_wrong_fix_not_run_here_is_shown_by_a_scenario_ci_runs(name: str) -> None:
    assert name in REJECTED_AS_RUN
    path, phase, expectation = PROVEN_ELSEWHERE[name]
    phases = {p.name: p for p in load_scenario(REPO / path).phases}
    assert expectation in phases[phase].expect, phases[phase].expect
