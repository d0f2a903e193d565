"""`meshsim exercise check`, end to end on real meshes: every exercise's
reference solution is solved (exit 0), and each wrong fix that reads right
is run and rejected (exit 1) with its explanation. Wrong fixes visible in the
YAML are rejected before any run: tests/exercise/test_judging.py.

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
from tests.exercise.test_judging import REJECTED_AS_RUN, WRONG

pytestmark = pytest.mark.slow


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


@pytest.mark.parametrize("number", [e.number for e in exercises()])
def test_reference_solution_is_solved(number: int, tmp_path: Path) -> None:
    result = _check(number, find_exercise(number).solution, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗" not in result.stdout and "solved. The lesson" in result.stdout


@pytest.mark.parametrize("name", sorted(REJECTED_AS_RUN))
def test_wrong_fix_is_run_and_rejected_with_its_reason(name: str, tmp_path: Path) -> None:
    result = _check(int(name[:2]), WRONG / f"{name}.yaml", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert REJECTED_AS_RUN[name] in result.stdout, result.stdout
    assert "not solved yet" in result.stdout and "notebooks/" in result.stdout
