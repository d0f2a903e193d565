"""Every scenario in scenarios/ passes its own expectations (exit code 0).

Each runs shortened with a time scale, so that its phases last about
`PHASES_S` seconds in all, whatever their written length; the expectations
are written to hold at that scale too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshsim.runner import RunOptions, run
from meshsim.scenario import load_scenario

pytestmark = pytest.mark.slow

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
PHASES_S = 15.0


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_passes(path: Path, tmp_path: Path) -> None:
    total = sum(p.duration for p in load_scenario(path).phases)
    scale = min(1.0, PHASES_S / total)
    result = run(path, RunOptions(ingress_port=0, time_scale=scale, run_dir=tmp_path / "run"))
    failed = []
    if result.report is not None:
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        failed = [
            f"{p['name']}: {e['expr']} (observed {e['observed']}, {e.get('note') or ''})"
            for p in report["phases"]
            for e in p["expectations"]
            if not e["passed"]
        ]
    assert result.exit_code == 0, (result.error, failed)
