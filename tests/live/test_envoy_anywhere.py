"""`MESHSIM_ENVOY` through the real command line: a mesh runs the Envoy it
names (a wrapper that records each call, then runs the real Envoy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshsim.runtime.commands import envoy_binary
from tests.live.helpers import meshsim

pytestmark = pytest.mark.slow


def test_meshsim_envoy_is_the_envoy_that_runs(tmp_path: Path) -> None:
    real = envoy_binary()
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "bin" / "other-envoy"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$$ $*" >> {calls}\nexec {real} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    run_dir = tmp_path / "run"
    out = meshsim(
        "up",
        "baseline",
        "--ingress-port",
        "0",
        "--time-scale",
        "0.2",
        "--no-telemetry",
        "--run-dir",
        str(run_dir),
        env={"MESHSIM_ENVOY": str(wrapper)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    started = [line for line in calls.read_text(encoding="utf-8").splitlines() if " -c " in line]
    # every sidecar and the ingress gateway: one Envoy each, all of them the wrapper's
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "pass"
    print(f"{len(started)} Envoys started through the wrapper")
    assert len(started) >= 5, started
