"""No test touches the developer's MESHSIM_HOME (tests/conftest.py).

A module-scoped fixture is set up before the function-scoped `_isolated_home`,
so it is where a leak would show: a mesh it starts is registered in whatever
home meshsim resolves at that moment (`meshsim.runtime.registry.home`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshsim.runtime import registry


@pytest.fixture(scope="module")
def module_home() -> Path:
    # what a module-scoped mesh (tests/live: `baseline`, `engine`) registers under
    registry.meshes_dir()
    return registry.home()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_module_scoped_fixture_uses_a_temporary_home(
    module_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert not _inside(module_home, Path.home() / ".meshsim")
    assert _inside(module_home, tmp_path_factory.getbasetemp())
    assert (module_home / "meshes").is_dir()


def test_each_test_still_gets_its_own_home(module_home: Path, tmp_path: Path) -> None:
    home = Path(os.environ["MESHSIM_HOME"])
    assert registry.home() == home
    assert _inside(home, tmp_path)
    assert home != module_home
