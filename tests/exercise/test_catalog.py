"""The shipped exercises and the commands around them: list, start, hint, and
check's refusals before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.errors import UsageError
from meshsim.exercise.catalog import exercises, find_exercise, hint, start
from meshsim.scenario import load_scenario
from meshsim.workshop import workshop_init

runner = CliRunner()
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


def test_at_least_seven_exercises_each_complete() -> None:
    found = exercises()
    assert [e.number for e in found] == list(range(1, len(found) + 1))
    assert len(found) >= 7
    for ex in found:
        for scenario in (ex.scenario, ex.solution):
            phases = [p.name for p in load_scenario(scenario).phases]
            assert ex.judged_phase in phases, f"{scenario}: no phase {ex.judged_phase}"
        assert len(ex.hints) >= 2 and ex.task.strip()
    from meshsim.exercise.checks import CHECKS

    assert set(CHECKS) == {e.slug for e in found}


@pytest.mark.parametrize("ex", exercises(), ids=lambda e: e.slug)
def test_each_points_at_a_real_notebook_section(ex: object) -> None:
    from meshsim.exercise.catalog import Exercise

    assert isinstance(ex, Exercise)
    text = (NOTEBOOKS.parent / ex.notebook).read_text(encoding="utf-8")
    assert f"# {ex.section}" in text.replace('\\"', '"'), ex.section


def test_found_by_number_slug_or_name() -> None:
    ex = find_exercise("3")
    assert find_exercise("retries-vs-faults") == ex == find_exercise("03-retries-vs-faults")
    with pytest.raises(UsageError, match="exercise 99: no such exercise; there are 1 "):
        find_exercise("99")


def test_start_copies_the_scenario_and_task_never_the_solution(tmp_path: Path) -> None:
    ex = find_exercise(3)
    dest = start(ex, tmp_path / "mine")
    assert sorted(p.name for p in dest.iterdir()) == ["TASK.md", "scenario.yaml"]
    task = (dest / "TASK.md").read_text()
    assert "meshsim exercise check 3" in task and ex.section in task
    assert load_scenario(dest / "scenario.yaml").name == "exercise-retries-vs-faults"
    (dest / "scenario.yaml").write_text("my work")
    with pytest.raises(UsageError, match="already there"):
        start(ex, dest)
    start(ex, dest, force=True)
    assert (dest / "scenario.yaml").read_text() != "my work"


def test_hints_one_more_each_time(tmp_path: Path) -> None:
    ex = find_exercise(3)
    start(ex, tmp_path)
    assert hint(ex, directory=tmp_path) == ex.hints[:1]
    assert hint(ex, directory=tmp_path) == ex.hints[:2]
    for _ in range(5):
        shown = hint(ex, directory=tmp_path)
    assert shown == ex.hints
    assert hint(ex, 1, tmp_path) == ex.hints[:1]


def test_workshop_copy_leaves_the_solutions_out(tmp_path: Path) -> None:
    workshop_init(tmp_path / "w")
    copied = tmp_path / "w" / "exercises"
    assert (copied / "03-retries-vs-faults" / "scenario.yaml").is_file()
    assert not list(copied.rglob("solution.yaml"))


def test_cli_list_start_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    listed = runner.invoke(app, ["exercise", "list"])
    assert listed.exit_code == 0 and "Lock product down to order" in listed.output
    started = runner.invoke(app, ["exercise", "start", "7"])
    assert started.exit_code == 0, started.output
    assert (tmp_path / "exercise-07-authz-lockdown" / "scenario.yaml").is_file()
    hinted = runner.invoke(app, ["exercise", "hint", "7"])
    assert hinted.exit_code == 0 and "hint 1/3" in hinted.output


def _meshsim(*args: str) -> subprocess.CompletedProcess[str]:
    """Through `main`, where errors become exit codes, as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_cli_check_refuses_before_running(tmp_path: Path) -> None:
    missing = _meshsim("exercise", "check", "3", "--dir", str(tmp_path))
    assert missing.returncode == 2 and "meshsim exercise start 3" in missing.stderr
    unknown = _meshsim("exercise", "check", "42")
    assert unknown.returncode == 2 and "no such exercise" in unknown.stderr
    (tmp_path / "scenario.yaml").write_text("name: x\nphases:\n  - name: fix\n    durati: 1s\n")
    bad = _meshsim("exercise", "check", "3", "--dir", str(tmp_path))
    assert bad.returncode == 2, bad.stderr
    assert "scenario.yaml" in bad.stderr and ":4" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_check_a_cheat_is_judged_without_a_run(tmp_path: Path) -> None:
    wrong = Path(__file__).parent / "wrong" / "03-fault-removed.yaml"
    (tmp_path / "scenario.yaml").write_text(wrong.read_text())
    result = runner.invoke(app, ["exercise", "check", "3", "--dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "✗ the abort is gone" in result.output and "not run" in result.output
    assert "notebooks/03-resilience.ipynb" in result.output
    assert not (tmp_path / "meshsim-runs").exists()
