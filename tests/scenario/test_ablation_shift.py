"""The ablation test's scenario transform (tests/live/test_ablation.py),
checked without a mesh: each phase runs under what the previous one left."""

from __future__ import annotations

from pathlib import Path

import yaml

from meshsim.scenario.loader import load_scenario_text
from tests.live.test_ablation import SCENARIOS, ablated, must_fail

DOC = {
    "name": "s",
    "phases": [
        {"name": "a", "duration": "5s", "apply": ["A"], "expect": ["error_rate < 1%"]},
        {"name": "b", "duration": "5s", "actions": [{"resume": "x", "at": "3s"}, {"kill": "x", "at": "1s"}]},
        {"name": "c", "duration": "5s", "remove": ["VirtualService/a"], "noop": "why"},
        {"name": "d", "duration": "5s"},
    ],
}  # fmt: skip


def test_each_change_moves_to_the_next_phase() -> None:
    phases = ablated(DOC)["phases"]
    assert [p.get("apply") for p in phases] == [None, ["A"], None, None]
    # the actions in the order they ran, at the phase start
    assert phases[2]["actions"] == [{"kill": "x"}, {"resume": "x"}]
    assert phases[3]["remove"] == ["VirtualService/a"]
    assert [p["expect"] for p in phases if "expect" in p] == [["error_rate < 1%"]]
    assert must_fail(DOC) == ["a", "b"]


def test_the_library_ablated_is_a_valid_scenario_and_each_change_is_judged() -> None:
    for path in SCENARIOS:
        doc = yaml.safe_load(path.read_text())
        load_scenario_text(yaml.safe_dump(ablated(doc)), file=str(path))
        for phase in doc["phases"]:
            if phase["name"] in must_fail(doc):
                assert phase.get("expect"), f"{path.name}: {phase['name']} changes, expects nothing"
    assert {Path(p).stem for p in SCENARIOS} >= {"canary", "mirror", "instance-crash"}
