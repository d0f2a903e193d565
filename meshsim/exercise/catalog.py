"""The exercises that ship with meshsim, and what `start` and `hint` do.

Each exercise is a directory of `exercises/` (in the wheel,
`meshsim/exercises/`, mapped by setup.py as the scenario library is):
`exercise.yaml` (title, task, hints, the notebook section it practises, the
phase the check judges), `scenario.yaml` (the learner's broken or unfinished
starting point) and `solution.yaml` (the reference solution, which CI runs
through the check and `start` never copies). Its number is the directory's
prefix: `03-retries-vs-faults` is exercise 3, also found as `retries-vs-faults`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshsim.errors import UsageError
from meshsim.library import shipped_dir
from meshsim.starter import with_schema_comment

TASK_FILE = "TASK.md"
SCENARIO_FILE = "scenario.yaml"
SOLUTION_FILE = "solution.yaml"
_DIR = re.compile(r"^(?P<number>\d+)-(?P<slug>[a-z0-9-]+)$")


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str
    path: Path  # its directory in the shipped exercises
    title: str
    topic: str
    notebook: str  # notebooks/03-resilience.ipynb
    section: str  # the notebook's heading that teaches it
    judged_phase: str
    task: str
    hints: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name  # 03-retries-vs-faults

    @property
    def pointer(self) -> str:
        return f'{self.notebook}, section "{self.section}"'

    @property
    def scenario(self) -> Path:
        return self.path / SCENARIO_FILE

    @property
    def solution(self) -> Path:
        return self.path / SOLUTION_FILE

    def task_text(self) -> str:
        """TASK.md of a learner's copy."""
        return (
            f"# Exercise {self.number}: {self.title}\n\n{self.task.strip()}\n\n"
            f"Edit `{SCENARIO_FILE}` (phase `{self.judged_phase}`), then run\n\n"
            f"    meshsim exercise check {self.number}\n\n"
            f"Stuck? `meshsim exercise hint {self.number}` gives one hint at a time.\n"
            f"It practises {self.pointer}.\n"
        )


def exercises_dir() -> Path:
    return shipped_dir("exercises")


def _load(path: Path) -> Exercise:
    m = _DIR.match(path.name)
    assert m is not None
    raw: dict[str, Any] = yaml.safe_load((path / "exercise.yaml").read_text(encoding="utf-8"))
    return Exercise(
        number=int(m["number"]),
        slug=m["slug"],
        path=path,
        title=str(raw["title"]),
        topic=str(raw["topic"]),
        notebook=str(raw["notebook"]),
        section=str(raw["section"]),
        judged_phase=str(raw["judged_phase"]),
        task=str(raw["task"]),
        hints=[str(h) for h in raw.get("hints", [])],
    )


def exercises() -> list[Exercise]:
    where = exercises_dir()
    if not where.is_dir():
        return []
    found = [_load(d) for d in sorted(where.iterdir()) if d.is_dir() and _DIR.match(d.name)]
    return sorted(found, key=lambda e: e.number)


def find_exercise(which: str | int) -> Exercise:
    """Exercise `which`: its number (3), its slug (retries-vs-faults) or both
    (03-retries-vs-faults); a UsageError (exit 2) listing them otherwise."""
    text = str(which).strip()
    for ex in exercises():
        if text in (str(ex.number), f"{ex.number:02d}", ex.slug, ex.name):
            return ex
    listed = ", ".join(f"{e.number} ({e.slug})" for e in exercises())
    raise UsageError(f"exercise {text}: no such exercise; there are {listed}")


def default_dir(ex: Exercise) -> Path:
    return Path(f"exercise-{ex.number:02d}-{ex.slug}")


def start(ex: Exercise, directory: Path | None = None, *, force: bool = False) -> Path:
    """Copy the exercise's starting scenario and its task into `directory`
    (default ./exercise-NN-slug); never the solution. An existing scenario
    there is kept unless `force` (the learner's work)."""
    dest = directory if directory is not None else default_dir(ex)
    target = dest / SCENARIO_FILE
    if target.exists() and not force:
        raise UsageError(
            f"{target}: already there (your work so far?); --force starts over, "
            f"or check it with `meshsim exercise check {ex.number} --dir {dest}`"
        )
    dest.mkdir(parents=True, exist_ok=True)
    text = ex.scenario.read_text(encoding="utf-8")
    target.write_text(with_schema_comment(text, dest), encoding="utf-8")
    (dest / TASK_FILE).write_text(ex.task_text(), encoding="utf-8")
    return dest


def hint(ex: Exercise, number: int | None = None, directory: Path | None = None) -> list[str]:
    """The hints up to `number` (default: one more than were asked for
    before in `directory`, remembered in its .hints file)."""
    if not ex.hints:
        return []
    seen_file = (directory if directory is not None else default_dir(ex)) / ".hints"
    if number is None:
        try:
            number = int(seen_file.read_text(encoding="utf-8").strip() or 0) + 1
        except (OSError, ValueError):
            number = 1
        if seen_file.parent.is_dir():
            seen_file.write_text(str(min(number, len(ex.hints))), encoding="utf-8")
    if number < 1:
        raise UsageError(f"hint {number}: hints are numbered from 1 to {len(ex.hints)}")
    return ex.hints[: min(number, len(ex.hints))]
