"""The dashboard's own process, as `meshsim up --dashboard` starts it."""

from __future__ import annotations

import json
import socket
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
