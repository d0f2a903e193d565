"""Ctrl-C, SIGTERM and SIGKILL leave no process and no bound port behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.helpers import (
    alive,
    bound,
    mesh_pids,
    meshsim,
    phase_started,
    plan_ports,
    running_meshsim,
    wait_for,
)

pytestmark = pytest.mark.slow

LONG = """
name: long
load: {users: 4, spawn_rate: 4}
phases:
  - {name: first, duration: 2s, expect: ["error_rate < 1%"]}
  - {name: second, duration: 60s}
"""


@contextlib.contextmanager
def _started(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, list[int]]]:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    run_dir = tmp_path / "run"
    with running_meshsim(
        "up", str(scenario), "--ingress-port", "0", "--run-dir", str(run_dir)
    ) as proc:
        wait_for(lambda: phase_started(run_dir, "second"), 60, "the second phase")
        time.sleep(0.5)
        pids = mesh_pids(Path(os.environ["MESHSIM_HOME"]))
        assert len(pids) >= 10  # 4 apps + 4 sidecars + ingress + locust
        yield proc, run_dir, pids


def _assert_clean(run_dir: Path, pids: list[int]) -> None:
    wait_for(lambda: not alive(pids), 5, "every child to exit")
    still = [p for p in plan_ports(run_dir) if bound(p)]
    assert not still, f"ports still bound: {still}"


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_stops_everything_and_keeps_the_report(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    with _started(tmp_path) as (proc, run_dir, pids):
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == code, out
    _assert_clean(run_dir, pids)
    assert took < 10, f"shutdown took {took:.1f}s"
    report = json.loads((run_dir / "report.json").read_text())
    phases = {p["name"]: p for p in report["phases"]}
    assert phases["first"]["status"] == "completed"
    assert phases["second"]["status"] == "interrupted"
    assert phases["first"]["requests"] > 0
    assert report["verdict"] == "fail"
    assert not list((Path(os.environ["MESHSIM_HOME"]) / "meshes").glob("*.json"))


def test_sigkill_then_down_cleans_up(tmp_path: Path) -> None:
    with _started(tmp_path) as (proc, run_dir, pids):
        proc.kill()
        proc.communicate(timeout=10)
    assert alive(pids), "children should survive a SIGKILL of meshsim (that is the point of down)"
    status = meshsim("status", "--json")
    assert status.returncode == 0
    meshes = json.loads(status.stdout)
    assert meshes and meshes[0]["status"] == "abandoned"
    down = meshsim("down")
    assert down.returncode == 0, down.stdout + down.stderr
    _assert_clean(run_dir, pids)
    assert json.loads(meshsim("status", "--json").stdout) == []
