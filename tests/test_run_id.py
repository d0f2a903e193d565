"""Run ids name containers, networks and mesh records: two runs at once must not share one."""

from __future__ import annotations

import re
from pathlib import Path

from meshsim.mesh import new_run_id, run_id_of_dir

# Docker's rule for container and network names
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def test_run_dirs_of_the_same_name_get_different_ids(tmp_path: Path) -> None:
    a, b = run_id_of_dir(tmp_path / "a" / "run"), run_id_of_dir(tmp_path / "b" / "run")
    assert a != b
    assert a.startswith("run-") and b.startswith("run-")


def test_the_same_run_dir_keeps_its_id(tmp_path: Path) -> None:
    assert run_id_of_dir(tmp_path / "run") == run_id_of_dir(tmp_path / "x" / ".." / "run")


def test_ids_are_docker_names(tmp_path: Path) -> None:
    for name in ("run", "my drill", "..", "x/../../etc", "ünïcode", ".hidden"):
        assert DOCKER_NAME.match(run_id_of_dir(tmp_path / name)), name
    assert DOCKER_NAME.match(new_run_id("my drill/../x"))
