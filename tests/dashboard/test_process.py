"""The dashboard's own process, as `meshsim up --dashboard` starts it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from meshsim.dashboard.process import start_dashboard
from meshsim.errors import UsageError
from tests.report.runs import RunDir as FakeRun
from tests.report.runs import steady


def test_it_serves_the_run_and_stops(tmp_path: Path) -> None:
    path = FakeRun(tmp_path / "run").write(phases=[("steady", 10.0, [])], records=steady(1, 11))
    log = path / "logs" / "dashboard.log"
    dashboard = start_dashboard(path, 0, log)
    try:
        assert dashboard.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(dashboard.url + "api/state", timeout=30) as answer:
            state = json.loads(answer.read())
        assert state["phases"][0]["name"] == "steady"
        assert dashboard.record().kind == "dashboard"
    finally:
        dashboard.stop()
    assert dashboard.proc.poll() is not None


def test_a_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    path = FakeRun(tmp_path / "run").write(phases=[("steady", 10.0, [])], records=[])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"--dashboard-port {port}: cannot listen"):
            start_dashboard(path, port, tmp_path / "dashboard.log")


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_it_stops_when_meshsim_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves meshsim no chance to stop it: the lifeline (its stdin) does."""
    path = FakeRun(tmp_path / "run").write(phases=[("steady", 10.0, [])], records=[])
    starter = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from meshsim.dashboard.process import start_dashboard\n"
        "d = start_dashboard(Path(sys.argv[1]), 0, Path(sys.argv[2]))\n"
        "print(d.proc.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    meshsim = subprocess.Popen(
        [sys.executable, "-c", starter, str(path), str(tmp_path / "dashboard.log")],
        stdout=subprocess.PIPE,
    )
    try:
        assert meshsim.stdout is not None
        dashboard_pid = int(meshsim.stdout.readline())
        assert not _gone(dashboard_pid, 0.5)  # it serves while meshsim lives
        meshsim.kill()
        meshsim.wait()
        assert _gone(dashboard_pid, 10.0), "the dashboard outlived a killed meshsim"
    finally:
        meshsim.kill()
        meshsim.wait()
        assert meshsim.stdout is not None
        meshsim.stdout.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(dashboard_pid, signal.SIGKILL)


def test_a_detached_dashboard_outlives_its_lifeline(tmp_path: Path) -> None:
    """A mesh kept with --keep keeps its dashboard until `meshsim down`."""
    path = FakeRun(tmp_path / "run").write(phases=[("steady", 10.0, [])], records=[])
    dashboard = start_dashboard(path, 0, tmp_path / "dashboard.log")
    try:
        dashboard.detach()
        assert not _gone(dashboard.proc.pid, 1.0)
        with urllib.request.urlopen(dashboard.url + "api/state", timeout=30) as answer:
            assert json.loads(answer.read())["phases"][0]["name"] == "steady"
    finally:
        dashboard.stop()
    assert dashboard.proc.poll() is not None
