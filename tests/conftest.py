"""Shared test setup.

No test ever uses the developer's MESHSIM_HOME (default `~/.meshsim`): the
whole session runs under a temporary one, set before any fixture of any scope,
so a module-scoped mesh (`baseline` in tests/live/test_observability.py) is
neither listed by the developer's `meshsim status` nor stopped by their
`meshsim down`. On top of that every test gets its own MESHSIM_HOME, so a
test's `meshsim down` or leftover cleanup can never touch a mesh that another
test (or a module-scoped fixture) is running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Session-scoped and autouse: pytest sets it up before every module- or
    # class-scoped fixture, which run before the function-scoped one below.
    home = tmp_path_factory.mktemp("meshsim-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MESHSIM_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "meshsim-home"
    monkeypatch.setenv("MESHSIM_HOME", str(home))
    return home
