"""`meshsim up` end to end, through the real command line."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.live.helpers import meshsim

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_baseline_passes_with_zero_failures(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = meshsim(
        "up",
        str(ROOT / "scenarios/baseline.yaml"),
        "--ingress-port",
        "0",
        "--time-scale",
        "0.4",
        "--run-dir",
        str(run_dir),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    ready = re.search(r"mesh ready in ([0-9.]+)s", out.stdout)
    assert ready, out.stdout
    print(f"ready in {ready.group(1)} s")
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "pass"
    assert sum(p["requests"] for p in report["phases"]) > 100
    assert sum(p["failures"] for p in report["phases"]) == 0
    # phases line up with the plan (names, and durations within 0.5 s)
    assert [p["name"] for p in report["phases"]] == ["warm-up", "steady"]
    for phase, planned in zip(report["phases"], (2.0, 6.0), strict=True):
        assert abs((phase["end_s"] - phase["start_s"]) - planned) < 0.5


def test_impossible_expectation_exits_1_and_says_so_everywhere(tmp_path: Path) -> None:
    scenario = tmp_path / "impossible.yaml"
    scenario.write_text(
        "name: impossible\nload: {users: 2, spawn_rate: 2}\n"
        "phases:\n  - {name: only, duration: 2s, expect: ['p99 < 0.001ms', 'error_rate < 1%']}\n"
    )
    run_dir = tmp_path / "run"
    out = meshsim("up", str(scenario), "--ingress-port", "0", "--run-dir", str(run_dir))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "p99 < 0.001ms" in out.stdout and "FAIL" in out.stdout
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "fail"
    results = {e["expr"]: e["passed"] for e in report["phases"][0]["expectations"]}
    assert results == {"p99 < 0.001ms": False, "error_rate < 1%": True}
    assert "p99 &lt; 0.001ms" in (run_dir / "junit.xml").read_text()
    assert "<failure" in (run_dir / "junit.xml").read_text()
    assert "p99 < 0.001ms" in (run_dir / "summary.md").read_text()


def test_ingress_port_in_use_exits_3_naming_the_component(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = meshsim("up", str(ROOT / "scenarios/baseline.yaml"), "--ingress-port", str(port))
    assert out.returncode == 3
    assert f"port {port} is already in use" in out.stderr
    assert "ingress gateway" in out.stderr
    assert "Traceback" not in out.stderr


def test_envoy_that_cannot_start_exits_3_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "envoy"
    fake.write_text("#!/bin/sh\necho 'simulated crash' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = meshsim(
        "up",
        str(ROOT / "scenarios/baseline.yaml"),
        "--ingress-port",
        "0",
        "--run-dir",
        str(tmp_path / "run"),
        env={"MESHSIM_ENVOY": str(fake)},
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "exited during start-up" in out.stderr
    assert ".envoy.log" in out.stderr
    assert "Traceback" not in out.stderr


def test_validate_reports_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nphases:\n  - name: a\n    duration: fast\n")
    out = meshsim("validate", str(bad))
    assert out.returncode == 2
    assert f"{bad}:4" in out.stderr and "phases[0].duration" in out.stderr
    assert "Traceback" not in out.stderr
    ok = meshsim("validate", str(ROOT / "scenarios/baseline.yaml"))
    assert ok.returncode == 0, ok.stderr


def test_version_and_help() -> None:
    assert meshsim("--version").stdout.startswith("meshsim ")
    help_text = meshsim("up", "--help").stdout
    assert "Example" in help_text and "--keep" in help_text
