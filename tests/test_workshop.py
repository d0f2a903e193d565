"""`meshsim workshop init DIR`: the notebooks with the scenario library and the
examples beside them, laid out as in a checkout, outside it. That a notebook
runs from such a copy without being told where the repository is, is proved
by tests/notebooks/test_notebooks.py, which runs 01-first-mesh from one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.errors import UsageError
from meshsim.scenario import load_scenario
from meshsim.scenario.schema import SCHEMA_PATH
from meshsim.workshop import workshop_init

REPO = Path(__file__).parents[1]


def test_the_copy_is_laid_out_as_a_checkout(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    written = workshop_init(ws)
    assert [p.name for p in written][:2] == ["notebooks", "scenarios"]
    for src in ("notebooks", "scenarios", "examples"):
        if not (REPO / src).is_dir():
            continue
        shipped = sorted(
            p.relative_to(REPO / src)
            for p in (REPO / src).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
        copied = sorted(p.relative_to(ws / src) for p in (ws / src).rglob("*") if p.is_file())
        assert copied == shipped, src
    # the schema comments point at this meshsim's schema, not at ../meshsim/...
    canary = ws / "scenarios" / "canary.yaml"
    assert canary.read_text().splitlines()[0].endswith(f"$schema={SCHEMA_PATH.resolve()}")
    assert load_scenario(canary).name == "canary"


def test_an_existing_copy_is_kept_without_force(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    workshop_init(ws)
    mine = ws / "scenarios" / "canary.yaml"
    mine.write_text("# my edits\n")
    (ws / "notebooks" / "notes.md").write_text("mine\n")
    with pytest.raises(UsageError, match="already there; --force"):
        workshop_init(ws)
    assert mine.read_text() == "# my edits\n"
    workshop_init(ws, force=True)
    assert mine.read_text() != "# my edits\n"
    assert (ws / "notebooks" / "notes.md").read_text() == "mine\n"


def test_cli_workshop_init(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", "workshop", "init", "ws"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "ws/notebooks/" in proc.stdout and "jupyter lab ws/notebooks" in proc.stdout
    assert len(list((tmp_path / "ws" / "notebooks").glob("*.ipynb"))) == 4
