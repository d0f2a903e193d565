"""Every scenario in scenarios/ passes its own expectations (exit code 0).

Each runs shortened with a time scale, so that its phases last about
`PHASES_S` seconds in all, whatever their written length; the expectations
are written to hold at that scale too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.scenario import load_scenario
from tests.live.helpers import run_to_pass

pytestmark = pytest.mark.slow

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
PHASES_S = 15.0


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_passes(path: Path, tmp_path: Path) -> None:
    total = sum(p.duration for p in load_scenario(path).phases)
    scale = min(1.0, PHASES_S / total)
    run_to_pass(path, tmp_path / "run", scale)
