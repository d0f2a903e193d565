"""`meshsim dashboard RUN_DIR` replays a run after the fact: a finished run of
the scenario library, and one interrupted by SIGINT in the middle of a phase.

For each, the replay server's `/api/state?t=` must place every time inside
the phase that ran then, and the page's `#slider` in a real headless Chromium
must move the timeline to that phase (screenshots under
RUN_DIR/dashboard-screenshots/).
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from meshsim.runner import RunResult
from tests.live.browser import (
    artefact_dir,
    chromium_page,
    dashboard_url,
    meshsim_background,
    screenshot,
)
from tests.live.helpers import phase_started, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios" / "fault-abort.yaml"  # baseline 10 s, abort-20 25 s, recovered 10 s
SCALE = "0.3"
PHASES = ["baseline", "abort-20", "recovered"]
WAIT_MS = 30_000

SLIDE_TO = """t => {
    const slider = document.querySelector('#slider');
    slider.value = String(t);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
    slider.dispatchEvent(new Event('change', {bubbles: true}));
}"""
PHASE_STATUS = """([phase, status]) => {
    const p = document.querySelector(`[data-phase="${phase}"]:not([data-expect])`);
    return p !== null && p.dataset.status === status;
}"""


@pytest.fixture
def page() -> Iterator[Page]:
    """A headless Chromium page, started before the run so its launch is not timed."""
    with chromium_page() as p:
        yield p


def phase_event(run_dir: Path, name: str) -> dict[str, Any]:
    for line in (run_dir / "phases.jsonl").read_text().splitlines():
        event: dict[str, Any] = json.loads(line)
        if event.get("event") == "phase_start" and event.get("phase") == name:
            return event
    raise AssertionError(f"no phase_start of {name} in {run_dir}/phases.jsonl")


def api_state(url: str, t: float | None = None) -> dict[str, Any]:
    query = "" if t is None else f"?t={t:.3f}"
    with urllib.request.urlopen(f"{url}api/state{query}", timeout=30) as answer:
        state: dict[str, Any] = json.loads(answer.read())
    return state


def check_replay(run_dir: Path, page: Page, ran: list[str]) -> dict[str, Any]:
    """Serve `run_dir` with `meshsim dashboard`, check that every time inside a
    phase of `ran` is shown in that phase (API and slider), return the final state."""
    log = run_dir.parent / f"{run_dir.name}-dashboard.log"
    args = ["dashboard", str(run_dir), "--port", "0", "--no-open"]
    with meshsim_background(args, log) as proc:
        url = dashboard_url(proc, log, timeout=60)
        final = api_state(url)
        assert [p["name"] for p in final["phases"]] == PHASES
        assert final["current_phase"] is None, final["current_phase"]
        page.goto(url)
        page.wait_for_function("document.body.dataset.connected === 'true'", timeout=WAIT_MS)
        for name in ran:
            phase = next(p for p in final["phases"] if p["name"] == name)
            start, end = phase["started_s"], phase.get("ended_s") or final["t"]
            middle = (start + end) / 2
            then = api_state(url, middle)
            assert then["current_phase"] == phase["index"], (name, middle, then["phases"])
            assert then["phases"][phase["index"]]["status"] == "running"
            earlier = [p["status"] for p in then["phases"][: phase["index"]]]
            assert all(s in ("passed", "failed") for s in earlier), earlier
            page.evaluate(SLIDE_TO, middle)
            page.wait_for_function(PHASE_STATUS, arg=[name, "running"], timeout=WAIT_MS)
            screenshot(page, run_dir, f"replay-{phase['index']}-{name}")
        proc.send_signal(signal.SIGINT)  # serves until Ctrl-C
        assert proc.wait(timeout=30) in (0, 130), log.read_text()
    return final


def test_replay_of_a_finished_library_run(
    fault_abort_run: RunResult, tmp_path: Path, page: Page
) -> None:
    """A copy of the finished fault-abort run that other live tests read
    (tests/live/conftest.py): the replay's screenshots and log go beside the copy."""
    run_dir = artefact_dir(tmp_path, "dashboard-replay-finished") / "run"
    shutil.copytree(fault_abort_run.run_dir, run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    final = check_replay(run_dir, page, PHASES)
    verdicts = {p["name"]: p["status"] for p in final["phases"]}
    expected = {
        p["name"]: "passed" if all(e["passed"] for e in p["expectations"]) else "failed"
        for p in report["phases"]
    }
    assert verdicts == expected, (verdicts, expected)


def test_replay_of_a_run_interrupted_mid_phase(tmp_path: Path, page: Page) -> None:
    run_dir = artefact_dir(tmp_path, "dashboard-replay-interrupted") / "run"
    log = run_dir.parent / "meshsim-up.log"
    args = ["up", str(LIBRARY), "--ingress-port", "0", "--time-scale", SCALE]
    with meshsim_background([*args, "--run-dir", str(run_dir)], log) as proc:
        wait_for(lambda: phase_started(run_dir, "abort-20"), 120, "phase abort-20 to start")
        # mid-phase: a third of its planned 7.5 s gone, by the run's own clock
        start = phase_event(run_dir, "abort-20")
        third = start["t"] + start["planned_s"] / 3
        wait_for(lambda: time.time() >= third, 30, "a third of phase abort-20")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, log.read_text()
    final = check_replay(run_dir, page, ["baseline", "abort-20"])
    statuses = [p["status"] for p in final["phases"]]
    # the interrupted phase did not complete, and the last never ran
    assert statuses[1] == "failed" and statuses[2] == "not_run", statuses
    assert final["run"]["status"] == "interrupted", final["run"]
