"""Runs that more than one live module reads.

A run's directory is only read by the tests that share it, so one mesh run
serves them all (docs/testing.md, "CI time"); a test that changes policies or
the run's files starts its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.runner import RunOptions, RunResult, run

SCENARIOS = Path(__file__).parents[2] / "scenarios"


@pytest.fixture(scope="session")
def fault_abort_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The library's fault-abort at time scale 0.4 (4 s baseline, 10 s abort-20,
    4 s recovered), completed: test_observability checks its edge counters
    against Locust and its access logs, test_bounded_disk its compressed files
    and every reader of them."""
    run_dir = tmp_path_factory.mktemp("fault-abort") / "run"
    result = run(
        SCENARIOS / "fault-abort.yaml", RunOptions(ingress_port=0, time_scale=0.4, run_dir=run_dir)
    )
    assert result.status == "completed", result.error
    return result
