"""Every scenario in scenarios/ passes its own expectations (exit code 0).

Each runs shortened with a time scale, so that its phases last about
`PHASES_S` seconds in all, whatever their written length; the expectations
are written to hold at that scale too.

A scenario that a workshop notebook already runs at this length is not run
a second time here: tests/notebooks/test_notebooks.py executes the notebook
and requires each of its runs to pass (verdict "pass", its failed
expectations listed otherwise), which is the proof this test would repeat
(about 25 s of CI per scenario). Nor is the baseline, which
tests/live/test_cli.py runs at this length through the command line and
requires to exit 0 with a "pass" verdict. `test_every_scenario_is_run_at_the_library_length`
keeps the two lists together.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from meshsim.scenario import load_scenario
from tests.live.helpers import run_to_pass
from tests.live.test_cli import BASELINE_SCALE

REPO = Path(__file__).parents[2]
ALL = sorted((REPO / "scenarios").glob("*.yaml"))
PHASES_S = 15.0
# `meshsim.run(SCENARIOS / "canary.yaml", time_scale=0.2, ...)` in a notebook's code
NOTEBOOK_RUN = re.compile(r'meshsim\.run\(SCENARIOS / "([\w-]+)\.yaml", time_scale=([0-9.]+)')


def library_s(path: Path) -> float:
    """How long this test runs the scenario's phases."""
    return min(PHASES_S, sum(p.duration for p in load_scenario(path).phases))


def notebook_runs() -> dict[str, float]:
    """Scenario name -> how long a workshop notebook runs its phases."""
    runs: dict[str, float] = {}
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                for name, scale in NOTEBOOK_RUN.findall("".join(cell["source"])):
                    path = REPO / "scenarios" / f"{name}.yaml"
                    total = sum(p.duration for p in load_scenario(path).phases)
                    runs[name] = total * float(scale)
    return runs


# run by a notebook within a second of the length this test would run it at
BY_NOTEBOOK = {
    name
    for name, s in notebook_runs().items()
    if abs(s - library_s(REPO / "scenarios" / f"{name}.yaml")) <= 1.0
}
BY_TEST_CLI = {"baseline"}
SCENARIOS = [p for p in ALL if p.stem not in BY_NOTEBOOK | BY_TEST_CLI]


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_passes(path: Path, tmp_path: Path) -> None:
    total = sum(p.duration for p in load_scenario(path).phases)
    scale = min(1.0, PHASES_S / total)
    run_to_pass(path, tmp_path / "run", scale)


def test_every_scenario_is_run_at_the_library_length() -> None:
    from tests.notebooks.test_notebooks import RUNS

    # the notebook test asserts a pass for every run it finds, by these names
    promised = {name for names in RUNS.values() for name in names}
    assert BY_NOTEBOOK <= promised, (BY_NOTEBOOK, promised)
    assert {p.stem for p in SCENARIOS} | BY_NOTEBOOK | BY_TEST_CLI == {p.stem for p in ALL}
    baseline = REPO / "scenarios" / "baseline.yaml"
    total = sum(p.duration for p in load_scenario(baseline).phases)
    assert abs(total * BASELINE_SCALE - library_s(baseline)) <= 1.0
    assert BY_NOTEBOOK, "no notebook run found: has the notebooks' call changed?"
