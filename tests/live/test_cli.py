"""`meshsim up` end to end, through the real command line (and the Envoy
that MESHSIM_ENVOY names, formerly tests/live/test_envoy_anywhere.py)."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path

import pytest

from meshsim.runtime.commands import envoy_binary
from tests.live.helpers import meshsim

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The library's length (15 s of phases): this run is also the library's proof
# that the baseline passes (tests/live/test_scenario_library.py).
BASELINE_SCALE = 0.75


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """One run of the baseline through the command line, with MESHSIM_ENVOY
    naming a wrapper that records each call, then runs the real Envoy: the
    two tests below read it (one mesh start-up instead of two), and so does
    test_scenario_library for the baseline (run at its length). Returns its
    stdout, run directory and the wrapper's log of calls."""
    tmp = tmp_path_factory.mktemp("baseline")
    calls = tmp / "calls.log"
    wrapper = tmp / "bin" / "other-envoy"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\necho "$$ $*" >> {calls}\nexec {envoy_binary()} "$@"\n', encoding="utf-8"
    )
    wrapper.chmod(0o755)
    run_dir = tmp / "run"
    out = meshsim(
        "up",
        str(ROOT / "scenarios/baseline.yaml"),
        "--ingress-port",
        "0",
        "--time-scale",
        str(BASELINE_SCALE),
        "--run-dir",
        str(run_dir),
        env={"MESHSIM_ENVOY": str(wrapper)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout, run_dir, calls


def test_baseline_passes_with_zero_failures(baseline: tuple[str, Path, Path]) -> None:
    stdout, run_dir, _ = baseline
    ready = re.search(r"mesh ready in ([0-9.]+)s", stdout)
    assert ready, stdout
    print(f"ready in {ready.group(1)} s")
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "pass"
    assert sum(p["requests"] for p in report["phases"]) > 100
    assert sum(p["failures"] for p in report["phases"]) == 0
    # phases line up with the plan: names, and each phase ends on the scaled
    # schedule (within 0.5 s). The schedule, not each phase's length: the
    # runner keeps phases on one clock from the first phase's start, and the
    # edge counters it snapshots between two phases (0.03-0.7 s measured on
    # the loaded machine) come out of the next phase's time.
    assert [p["name"] for p in report["phases"]] == ["warm-up", "steady"]
    planned_s = (5 * BASELINE_SCALE, 15 * BASELINE_SCALE)
    first = report["phases"][0]["start_s"]
    for phase, planned_end in zip(report["phases"], accumulate(planned_s), strict=True):
        seen = (phase["name"], phase["start_s"], phase["end_s"], first, planned_end)
        assert abs((phase["end_s"] - first) - planned_end) < 0.5, seen


def test_meshsim_envoy_is_the_envoy_that_runs(baseline: tuple[str, Path, Path]) -> None:
    """`MESHSIM_ENVOY` through the real command line: a mesh runs the Envoy it names."""
    _, run_dir, calls = baseline
    started = [line for line in calls.read_text(encoding="utf-8").splitlines() if " -c " in line]
    # every sidecar and the ingress gateway: one Envoy each, all of them the wrapper's
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "pass"
    print(f"{len(started)} Envoys started through the wrapper")
    assert len(started) >= 5, started


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
