"""The live dashboard in a real headless Chromium, against a real run.

`meshsim up tests/live/data/dashboard-drill.yaml --dashboard` runs the shop
through three short phases (calm, a 50 % abort on order -> product, calm
again); the page, opened at the URL meshsim prints, must show every service,
order -> product without errors and then at about the fault's rate, the
timeline moving on, and the abort phase's expectation that fails on purpose
shown as failed. Each state is kept as a screenshot under
RUN_DIR/dashboard-screenshots/ (CI: under .ci/artefacts/, tests/live/browser.py).

Every wait is on a condition in the page (the DOM of docs/observability.md),
never a fixed sleep: the phases' own durations are the only clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live.browser import (
    artefact_dir,
    chromium_page,
    dashboard_url,
    meshsim_background,
    screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

DRILL = Path(__file__).parent / "data" / "dashboard-drill.yaml"
EDGE = "order->product"
# Waits are bounded by the phases (10 s, 10 s, 6 s) plus the mesh's start-up
WAIT_MS = 60_000

# JavaScript read in the page (one evaluation, so each reading is consistent)
NODE_SHOWN = """s => document.querySelector(
    `[data-node="${s}"], [data-service="${s}"], [data-node^="${s}-"]`) !== null"""
EDGE_READING = """([edge, phase]) => {
    const e = document.querySelector(`[data-edge="${edge}"]`);
    const p = document.querySelector(`[data-phase="${phase}"]:not([data-expect])`);
    if (!e || !p || p.dataset.status !== "running" || !(Number(e.dataset.rps) > 0)) return null;
    return {error_rate: Number(e.dataset.errorRate), rps: Number(e.dataset.rps)};
}"""
PHASE_STATUS = """([phase, status]) => {
    const p = document.querySelector(`[data-phase="${phase}"]:not([data-expect])`);
    return p !== null && p.dataset.status === status;
}"""
FAILED_EXPECTATIONS = """() => Array.from(document.querySelectorAll('[data-expect]'))
    .filter(e => e.dataset.status === "fail")
    .map(e => (e.dataset.expect || "") + " " + e.textContent)"""


@pytest.fixture
def page() -> Iterator[Page]:
    """A headless Chromium page, started before the run so its launch is not timed."""
    with chromium_page() as p:
        yield p


def test_live_run_in_headless_chromium(tmp_path: Path, page: Page) -> None:
    work = artefact_dir(tmp_path, "dashboard-live")
    run_dir = work / "run"
    log = work / "meshsim-up.log"
    args = ["up", str(DRILL), "--ingress-port", "0", "--dashboard", "--run-dir", str(run_dir)]
    with meshsim_background(args, log) as proc:
        url = dashboard_url(proc, log, timeout=90)
        assert url.startswith("http://127.0.0.1:")
        page.goto(url)
        page.wait_for_function("document.body.dataset.connected === 'true'", timeout=WAIT_MS)

        # 1. every service of the run's plan is a node of the graph
        plan = json.loads((run_dir / "plan.json").read_text())
        services = sorted({i["service"] for i in plan["instances"]})
        assert services == ["order", "product", "shipping", "user"], services
        for service in services:
            page.wait_for_function(NODE_SHOWN, arg=service, timeout=WAIT_MS)

        # 2. calm: order -> product carries calls, without errors
        calm = page.wait_for_function(EDGE_READING, arg=[EDGE, "calm"], timeout=WAIT_MS)
        reading = calm.json_value()
        assert reading["error_rate"] == 0, reading
        screenshot(page, run_dir, "1-calm")

        # 3. the abort phase starts: the timeline moves on, and the edge's error
        # rate rises from 0 to about the fault's 50 % (its window is a few seconds)
        page.wait_for_function(PHASE_STATUS, arg=["abort-50", "running"], timeout=WAIT_MS)
        page.wait_for_function(
            f"""([edge, phase]) => {{
                const r = ({EDGE_READING})([edge, phase]);
                return r !== null && r.error_rate >= 0.35 && r.error_rate <= 0.65;
            }}""",
            arg=[EDGE, "abort-50"],
            timeout=WAIT_MS,
        )
        assert page.evaluate(PHASE_STATUS, ["calm", "passed"])
        screenshot(page, run_dir, "2-abort")

        # 4. the next phase: the abort phase is judged, its `error_rate < 1%` failed
        page.wait_for_function(PHASE_STATUS, arg=["recovered", "running"], timeout=WAIT_MS)
        page.wait_for_function(PHASE_STATUS, arg=["abort-50", "failed"], timeout=WAIT_MS)
        page.wait_for_function(f"() => ({FAILED_EXPECTATIONS})().length > 0", timeout=WAIT_MS)
        failed = page.evaluate(FAILED_EXPECTATIONS)
        assert len(failed) == 1 and "error_rate < 1%" in failed[0], failed
        screenshot(page, run_dir, "3-failed-expectation")

        assert proc.wait(timeout=120) == 1, log.read_text()  # one expectation failed
    run = json.loads((run_dir / "run.json").read_text())
    assert run["dashboard_url"] == url
    shots = sorted(p.name for p in (run_dir / "dashboard-screenshots").glob("*.png"))
    assert shots == ["1-calm.png", "2-abort.png", "3-failed-expectation.png"]
