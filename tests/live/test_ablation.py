"""Policy ablation of the scenario library: every phase's change is proved by
its own expectations.

A phase that applies, removes or does something (chaos actions) must fail at
least one of its expectations when that change is left out; otherwise it
passes whatever the mesh does with its policy. One run per scenario checks
all its phases at once: each phase's change moves to the next phase, so
phase k runs under exactly what phase k-1 left (its resources in force, its
actions done at the start) and never sees its own change. A phase that
declares `noop: "why"` is accepted (docs/scenarios.md).

Each scenario runs shortened as in test_scenario_library (same time scale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshsim.runner import RunOptions, run
from tests.live.test_scenario_library import PHASES_S

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
CHANGE = ("apply", "remove", "actions")


def changes(phase: dict[str, Any]) -> bool:
    return any(phase.get(key) for key in CHANGE)


def ablated(doc: dict[str, Any]) -> dict[str, Any]:
    """The scenario with each phase's change moved to the next phase, its
    actions at that phase's start (in their order); the last change is dropped."""
    phases, carried = [], {}
    for phase in doc["phases"]:
        shifted = {k: v for k, v in phase.items() if k not in CHANGE}
        shifted.update({k: v for k, v in carried.items() if v})
        carried = {
            "apply": phase.get("apply"),
            "remove": phase.get("remove"),
            "actions": [
                {k: v for k, v in a.items() if k != "at"}
                for a in sorted(phase.get("actions") or [], key=lambda a: _seconds(a.get("at")))
            ],
        }
        phases.append(shifted)
    return {**doc, "phases": phases}


def _seconds(at: Any) -> float:
    from meshsim.scenario.model import parse_duration

    return 0.0 if at is None else parse_duration(at)


def must_fail(doc: dict[str, Any]) -> list[str]:
    """The phases whose change must show in their own expectations."""
    return [p["name"] for p in doc["phases"] if changes(p) and not p.get("noop")]


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_leaving_a_phase_change_out_fails_the_phase(path: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    checked = must_fail(doc)
    if not checked:
        # nothing to prove (baseline changes nothing); say so rather than skip
        assert not any(changes(p) and not p.get("noop") for p in doc["phases"])
        return
    scenario = tmp_path / path.name
    scenario.write_text(yaml.safe_dump(ablated(doc), sort_keys=False))
    total = sum(_seconds(p["duration"]) for p in doc["phases"])
    scale = min(1.0, PHASES_S / total)
    result = run(scenario, RunOptions(ingress_port=0, time_scale=scale, run_dir=tmp_path / "run"))
    assert result.status == "completed", result.error
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    phases = {p["name"]: p for p in report["phases"]}
    survived = []
    for name in checked:
        judged = phases[name]["expectations"]
        failed = [e for e in judged if not e["passed"] and e["observed"] is not None]
        print(f"  {path.stem}/{name} without its change: failed {[e['expr'] for e in failed]}")
        if not failed:
            survived.append(
                f"{name}: " + "; ".join(f"{e['expr']} (observed {e['observed']})" for e in judged)
            )
    assert not survived, (
        "these phases pass with their change left out: add an expectation that shows "
        f"the change, or declare `noop: why` on the phase: {survived}"
    )
