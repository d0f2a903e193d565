"""scenarios/istio-tasks/: every task loads without error, its README lists it,
and its Istio resources stay as Istio writes them (no meshsim-only keys but the
one documented annotation)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshsim.scenario import load_scenario

TASKS_DIR = Path(__file__).parents[2] / "scenarios" / "istio-tasks"
TASKS = sorted(TASKS_DIR.glob("*.yaml"))


def test_there_are_tasks_and_the_readme_lists_each() -> None:
    assert len(TASKS) >= 11
    listed = set(re.findall(r"\[`([\w.-]+\.yaml)`\]", (TASKS_DIR / "README.md").read_text()))
    assert listed == {p.name for p in TASKS}


@pytest.mark.parametrize("path", TASKS, ids=[p.stem for p in TASKS])
def test_task_loads_and_expects_something(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.description and all(p.expectations for p in scenario.phases)
    text = path.read_text()
    assert "meshsim.io/" not in text or path.stem == "request-timeouts"
