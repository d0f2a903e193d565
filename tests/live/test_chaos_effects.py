"""Chaos actions verified by their effect, not by their log line.

A run with every verb on the local runtime: the "action" events must record
what a caller of the app saw afterwards (a killed app refuses, a paused one
is silent, a resumed one answers, a restarted one answers with a new pid),
and the "rollback" event the state before the rollback. The same run with a
runtime whose verbs do nothing must say so: that is what makes the first
test able to fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshsim import chaos
from meshsim.runner import RunOptions, run
from meshsim.runtime.local import LocalRuntime

pytestmark = pytest.mark.slow

CHAOS = """
name: chaos-effects
load: {users: 2, spawn_rate: 2, journeys: {browse: 1}}
mesh: {services: {product: {versions: {v1: {replicas: 2}}}}}
phases:
  - name: chaos
    duration: 6s
    actions:
      - {kill: product-v1-1}
      - {pause: product-v1-0, at: 0.5s}
      - {resume: product-v1-0, at: 2s}
      - {restart: product-v1-1, at: 3s}
      - {pause: product-v1-0, at: 5s}
"""


def chaos_run(tmp_path: Path) -> list[dict[str, Any]]:
    scenario = tmp_path / "chaos.yaml"
    scenario.write_text(CHAOS)
    result = run(scenario, RunOptions(ingress_port=0, run_dir=tmp_path / "run"))
    assert result.status == "completed", result.error
    lines = (tmp_path / "run" / "phases.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_actions_record_the_state_a_caller_sees(tmp_path: Path) -> None:
    events = chaos_run(tmp_path)
    acts = [e for e in events if e["event"] == "action"]
    seen = [(e["verb"], [o["state"] for o in e["observed"]]) for e in acts]
    print("  observed:", seen)
    assert seen == [
        ("kill", ["refused"]),
        ("pause", ["unresponsive"]),
        ("resume", ["answering"]),
        ("restart", ["answering"]),
        ("pause", ["unresponsive"]),
    ]
    assert all(e["effective"] for e in acts)
    killed_pid = acts[0]["observed"][0]["identity"]
    assert killed_pid is None  # no app process after the kill
    # the restart's new process is not the one that was started with the mesh
    restart = acts[3]["observed"][0]
    assert restart["identity"] is not None
    # the app paused at the end is resumed: the event says what it was before
    rollback = [e for e in events if e["event"] == "rollback"]
    assert [(e["instance"], e["was"]) for e in rollback] == [("product-v1-0", "paused")]
    assert not [e for e in events if e["event"] == "warning" and "take effect" in e["message"]]


async def _nothing(self: LocalRuntime, instance: str) -> None:
    return None


def test_an_action_that_does_nothing_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for verb in ("kill", "pause", "resume", "restart"):
        monkeypatch.setattr(LocalRuntime, verb, _nothing)
        # An effect that never comes is as absent after 1 s as after the real
        # deadlines (restart's is 20 s, most of this test's time); the first
        # test keeps them, where the effects do come.
        monkeypatch.setitem(chaos.DEADLINE_S, verb, 1.0)
    events = chaos_run(tmp_path)
    by_verb = [(e["verb"], e["effective"]) for e in events if e["event"] == "action"]
    print("  with verbs that do nothing:", by_verb)
    # resume of an app that never paused is still answering: only the three
    # verbs that change something can be caught doing nothing
    assert [v for v, ok in by_verb if not ok] == ["kill", "pause", "restart", "pause"]
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("kill product-v1-1" in w and "did not take effect" in w for w in warnings)
    assert any("restart product-v1-1" in w and "still runs as before" in w for w in warnings)
