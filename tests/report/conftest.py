from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.runs import RunDir


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    return RunDir(tmp_path / "run")
