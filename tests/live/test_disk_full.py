"""A disk that fills up mid-run never leaves the mesh running (issue 16, item 2).

The metrics file is opened on /dev/full, where every write fails with the
kernel's real ENOSPC ([Errno 28] No space left on device): the scraper's
last flush, in the runner's teardown, raises it. Before the fix that skipped
`mesh.stop()`: exit 1 with a traceback and every process still up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.helpers import (
    alive,
    bound,
    mesh_pids,
    meshsim,
    phase_started,
    plan_ports,
    wait_for,
)

pytestmark = pytest.mark.slow

SCENARIO = """
name: disk-full
load: {users: 2, spawn_rate: 2}
phases:
  - {name: first, duration: 3s}
  - {name: second, duration: 2s}
"""

# The CLI with one file written to /dev/full, where every write gets ENOSPC.
METRICS_ON_FULL_DISK = """
import meshsim.telemetry.metrics as metrics
metrics.MetricsScraper._file = lambda self: (
    self._fh or setattr(self, "_fh", open("/dev/full", "a", encoding="utf-8")) or self._fh
)
"""
REGISTRY_ON_FULL_DISK = """
import meshsim.runtime.registry as registry
save = registry.MeshRecord.save
def full_when_stopping(self):
    if self.status != "stopping":
        return save(self)
    with open("/dev/full", "w") as fh:
        fh.write("x" * 10_000)
registry.MeshRecord.save = full_when_stopping
"""
CLI = "from meshsim.cli import main; main()"


@pytest.mark.parametrize(
    ("patch", "says"),
    [
        (METRICS_ON_FULL_DISK, "metrics.jsonl): could not write: No space left on device"),
        (REGISTRY_ON_FULL_DISK, "the mesh: could not write: No space left on device"),
    ],
    ids=["metrics", "mesh-registry"],
)
def test_enospc_in_teardown_stops_the_mesh_and_exits_3(
    tmp_path: Path, patch: str, says: str
) -> None:
    scenario = tmp_path / "disk-full.yaml"
    scenario.write_text(SCENARIO)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", patch + CLI, "up", str(scenario)]
        + ["--ingress-port", "0", "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        wait_for(lambda: phase_started(run_dir, "first"), 60, "the first phase")
        pids = mesh_pids(Path(os.environ["MESHSIM_HOME"]))
        assert len(pids) >= 10  # 4 apps + 4 sidecars + ingress + locust
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        meshsim("down")  # what the run left behind (before the fix: everything)
    assert proc.returncode == 3, out + err
    assert "Traceback" not in err
    assert says in err  # names what failed to write, and why
    wait_for(lambda: not alive(pids), 5, "every process of the mesh to exit")
    assert [p for p in plan_ports(run_dir) if bound(p)] == []
    assert not list((Path(os.environ["MESHSIM_HOME"]) / "meshes").glob("*.json"))
    # the run's own data and report are still written
    assert (run_dir / "report.json").is_file() and (run_dir / "junit.xml").is_file()
