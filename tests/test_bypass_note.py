"""Where mTLS STRICT or an AuthorizationPolicy is in force, `explain` and
`status` say that the local runtime's app ports walk around the sidecar
(issue 16, item 7)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from meshsim.control.plan import build_plan
from meshsim.explain import explain
from meshsim.runtime.registry import MeshRecord
from meshsim.scenario import load_scenario, resolve_application, resolve_mesh
from meshsim.status import mesh_status

SCENARIOS = Path(__file__).parents[1] / "scenarios"
NOTE = "answer any local process directly, bypassing the sidecar"


def test_explain_notes_the_bypass_only_where_a_sidecar_enforces_something() -> None:
    phases = {p.phase: p.notes for p in explain(SCENARIOS / "mtls-migration.yaml").phases}
    assert phases["permissive"] == []  # PERMISSIVE: the sidecar lets plaintext in anyway
    (strict,) = phases["strict"]
    assert NOTE in strict and "order-v1-0" in strict and "docs/security.md" in strict
    assert all(p.notes == [] for p in explain(SCENARIOS / "baseline.yaml").phases)
    lockdown = explain(SCENARIOS / "authz-lockdown.yaml", phase="lockdown")
    assert any(line == (1, f"note: {lockdown.phases[0].notes[0]}") for line in lockdown.lines())


def _kept_mesh(tmp_path: Path, runtime: str, phase_index: int) -> None:
    run = tmp_path / "run"
    run.mkdir()
    scenario = SCENARIOS / "mtls-migration.yaml"
    shutil.copyfile(scenario, run / "scenario.yaml")
    s = load_scenario(scenario)
    plan = build_plan(resolve_mesh(s), 0, resolve_application(s))
    (run / "plan.json").write_text(json.dumps(plan.to_dict()))
    events = [
        {"event": "phase_start", "t": time.time(), "phase": p.name, "index": i}
        for i, p in enumerate(s.phases[: phase_index + 1])
    ]
    (run / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    MeshRecord(
        run_id="kept",
        run_dir=str(run),
        scenario=s.name,
        runtime=runtime,
        owner_pid=os.getpid(),
        owner_create_time=0.0,
        started_at=time.time(),
        keep=True,
        status="kept",
    ).save()


def test_status_notes_the_bypass_of_a_local_mesh_under_strict(tmp_path: Path) -> None:
    _kept_mesh(tmp_path, "local", phase_index=1)  # in phase "strict"
    (mesh,) = mesh_status()
    (note,) = mesh["notes"]
    assert NOTE in note


def test_status_has_no_note_before_strict(tmp_path: Path) -> None:
    _kept_mesh(tmp_path, "local", phase_index=0)  # still "permissive"
    (mesh,) = mesh_status()
    assert mesh["notes"] == []
