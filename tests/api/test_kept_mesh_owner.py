"""A mesh kept by `meshsim.run(..., keep=True)` is owned by a process that
lives on (a notebook kernel): `meshsim down` must stop the mesh, not its owner."""

from __future__ import annotations

import subprocess
import sys
import time

from meshsim.runtime.registry import MeshRecord, all_meshes, process_create_time
from meshsim.status import stop_all_meshes


def test_down_leaves_the_owner_of_a_kept_mesh_alive() -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        MeshRecord(
            run_id="kept-by-a-notebook",
            run_dir="/nonexistent",
            scenario="baseline",
            runtime="local",
            owner_pid=owner.pid,
            owner_create_time=process_create_time(owner.pid),
            started_at=time.time(),
            keep=True,
            status="kept",
        ).save()
        stopped = stop_all_meshes(timeout=1.0)
        assert [run_id for run_id, _ in stopped] == ["kept-by-a-notebook"]
        assert all_meshes() == []
        assert owner.poll() is None, "the kernel that kept the mesh was signalled"
    finally:
        owner.kill()
        owner.wait()
