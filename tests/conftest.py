"""Shared test setup.

Every test gets its own MESHSIM_HOME, so a test's `meshsim down` or leftover
cleanup can never touch a mesh that another test (or a developer) is running.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "meshsim-home"
    monkeypatch.setenv("MESHSIM_HOME", str(home))
    return home
