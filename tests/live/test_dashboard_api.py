"""`meshsim up --dashboard` on a real mesh, read over HTTP as a script would
(the browser test is tests/live/test_dashboard_browser.py)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.live.helpers import bound, running_meshsim

pytestmark = pytest.mark.slow

# The abort phase is long enough for the live edge to show only aborted calls:
# a state counts the scrapes of the last 5 s (EDGE_WINDOW_S, per-second
# cells), each covering the 2 s before it, so only states from 5-7 s into the
# phase on hold no call from before the push. At 6 s that left the phase's
# last 0-2 s: with a state built every 1.2 s, none showed over 0.9 in 1.5 % of
# runs (3 % at 1.3 s; simulated with random scrape and refresh phases). At
# 10 s its last 3 s qualify: over 0.93 even with a state every 3 s and a 0.5 s push.
SCENARIO = """name: dashboard-api
load: {users: 4, spawn_rate: 4}
phases:
  - name: calm
    duration: 4s
    expect: ["error_rate < 1%"]
  - name: abort
    duration: 10s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: user}
        spec:
          hosts: [user]
          http:
            - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
              route: [{destination: {host: user}}]
"""


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def test_the_api_follows_a_live_run(tmp_path: Path) -> None:
    scenario = tmp_path / "dashboard-api.yaml"
    scenario.write_text(SCENARIO)
    run_dir = tmp_path / "run"
    args = ["up", str(scenario), "--ingress-port", "0", "--dashboard", "--run-dir", str(run_dir)]
    with running_meshsim(*args) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the dashboard serves before the mesh starts
        assert first.startswith("dashboard: http://127.0.0.1:"), first
        url = first.removeprefix("dashboard: ").strip()
        seen_phases: list[int] = []
        services: set[str] = set()
        user_errors = 0.0
        readings: list[tuple[float, float]] = []  # (t, order->user error rate) in the abort
        calm_status = None
        deadline = time.monotonic() + 150
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                state = _get(url + "api/state")
            except OSError:  # the run ended and its dashboard with it
                break
            services |= {n["service"] for n in state["nodes"]}
            if state["current_phase"] is not None and (
                not seen_phases or seen_phases[-1] != state["current_phase"]
            ):
                seen_phases.append(state["current_phase"])
            calm_status = state["phases"][0]["status"]
            if state["current_phase"] == 1:
                edges = {e["id"]: e for e in state["edges"]}
                readings.append((state["t"], edges["order->user"]["error_rate"]))
                user_errors = max(user_errors, readings[-1][1])
            time.sleep(0.5)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert services == {"order", "product", "shipping", "user"}
    assert seen_phases == [0, 1]
    assert calm_status == "passed"
    print("  order->user in the abort (t, error rate):", readings)
    assert user_errors > 0.9, readings  # every call order makes to user is aborted in its sidecar
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["dashboard_url"] == url
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    assert not bound(port), "the dashboard outlived its run"
