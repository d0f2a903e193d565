"""`meshsim workshop init DIR`: the workshop's files for attendees who
installed meshsim rather than cloned it.

DIR gets the same layout as a checkout (`notebooks/`, `scenarios/`, and
`examples/` and `exercises/` when this meshsim ships them), so the notebooks
find `scenarios/` beside them exactly as they do in the repository, and every
command the notebooks and docs show works from DIR. Scenario files get a
schema comment that points at this meshsim's schema (the library's own
relative one would point nowhere in the copy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from meshsim.errors import UsageError
from meshsim.library import shipped_dir
from meshsim.starter import SCHEMA_MARK, with_schema_comment

WORKSHOP_DIRS = ("notebooks", "scenarios", "examples", "exercises")
# solution.yaml: an exercise's reference solution stays out of attendees' copies
# (meshsim/exercise/catalog.py); `meshsim exercise check` judges without it.
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "solution.yaml")


def workshop_init(directory: Path, *, force: bool = False) -> list[Path]:
    """Copy the workshop's directories into `directory`; returns what was
    written. A directory already there is a UsageError (exit 2) unless `force`,
    which overwrites the files meshsim ships and keeps any others."""
    copies = [(shipped_dir(n), directory / n) for n in WORKSHOP_DIRS if shipped_dir(n).is_dir()]
    there = [dest for _, dest in copies if dest.exists()]
    if there and not force:
        raise UsageError(
            f"{', '.join(map(str, there))}: already there; --force overwrites the files "
            "meshsim ships (and keeps your others)"
        )
    for source, dest in copies:
        shutil.copytree(source, dest, ignore=_SKIP, dirs_exist_ok=True)
        for scenario in dest.rglob("*.y*ml"):
            text = scenario.read_text(encoding="utf-8")
            if text.startswith(SCHEMA_MARK):
                scenario.write_text(with_schema_comment(text, scenario.parent), encoding="utf-8")
    return [dest for _, dest in copies]
