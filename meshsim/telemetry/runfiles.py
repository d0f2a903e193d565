"""Who listens where in a run (its plan.json), read back for the telemetry
readers, `topology`, `status` and the report. Lenient: a damaged or missing
file gives None. (The phase windows are `meshsim.timeline`'s.)"""

from __future__ import annotations

import json
from pathlib import Path

from meshsim.control.plan import MeshPlan
from meshsim.rundir import RunDir

__all__ = ["instance_addresses", "read_plan"]


def read_plan(run_dir: Path) -> MeshPlan | None:
    try:
        return MeshPlan.from_dict(json.loads(RunDir(run_dir).plan.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def instance_addresses(run_dir: Path) -> dict[str, str]:
    """`host:port` of every sidecar's inbound listener → its instance name."""
    plan = read_plan(run_dir)
    if plan is None:
        return {}
    out = {}
    for inst in plan.instances:
        out[f"{inst.host}:{inst.inbound_port}"] = inst.name
        host, port = inst.inbound_address
        out[f"{host}:{port}"] = inst.name
    return out
