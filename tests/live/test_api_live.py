"""The Python API against a real mesh, called as a notebook calls it: with an
event loop already running in the calling thread (Jupyter's)."""

from __future__ import annotations

import _thread
import asyncio
import signal
from pathlib import Path

import pytest

import meshsim
from meshsim.api import RunEvent, RunReport
from meshsim.status import mesh_status

pytestmark = pytest.mark.slow

BASELINE = Path(__file__).parents[2] / "scenarios" / "baseline.yaml"


def test_run_inside_a_running_event_loop(tmp_path: Path) -> None:
    events: list[RunEvent] = []

    async def cell() -> RunReport:
        # what Jupyter does: the cell's code runs while the kernel's loop is running
        return meshsim.run(
            BASELINE, time_scale=0.25, run_dir=tmp_path / "run", events=events.append
        )

    result = asyncio.run(cell())
    assert result.status == "completed", result.error
    assert result.verdict == "pass" and result.exit_code == 0
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {"mesh_ready", "phase_started", "progress", "phase_ended"} <= set(kinds)
    assert (tmp_path / "run" / "report.json").exists()
    frames = result.to_dataframes()
    assert list(frames["phases"]["phase"]) == ["warm-up", "steady"]
    assert frames["phases"]["requests"].min() > 0
    assert {"istio-ingressgateway", "order"} <= set(frames["edges"]["source"])
    assert mesh_status() == []


def test_interrupting_the_cell_stops_the_run_cleanly(tmp_path: Path) -> None:
    def interrupt_at_second_phase(event: RunEvent) -> None:
        if event.kind == "phase_started" and event.data["index"] == 1:
            _thread.interrupt_main()  # the notebook's stop button: KeyboardInterrupt

    async def cell() -> RunReport:
        # ipykernel runs a cell with Python's default SIGINT handler (KeyboardInterrupt),
        # in place of the one asyncio.run installs for its own loop.
        saved = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return meshsim.run(
                BASELINE, time_scale=0.5, run_dir=tmp_path / "run", events=interrupt_at_second_phase
            )
        finally:
            signal.signal(signal.SIGINT, saved)

    result = asyncio.run(cell())
    assert result.status == "interrupted" and result.exit_code == 130
    assert [p.status for p in result.phases] == ["completed", "interrupted"]
    assert result.verdict == "fail"
    assert mesh_status() == []  # every process stopped, the record removed
