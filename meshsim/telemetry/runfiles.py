"""Small readers of a run directory shared by the telemetry readers: the phase
windows (phases.jsonl) and who listens where (plan.json). Lenient: a damaged
or missing file gives what could be read."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from pathlib import Path

from meshsim.control.plan import MeshPlan
from meshsim.report.inputs import read_phase_events
from meshsim.report.windows import PhaseWindow, build_timeline

__all__ = ["PhaseWindow", "instance_addresses", "phase_of", "phase_windows", "read_plan"]


def phase_windows(run_dir: Path) -> list[PhaseWindow]:
    """When each phase of the run ran (as the report sees it)."""
    events = read_phase_events(run_dir / "phases.jsonl")
    return build_timeline(events, []).phases


def phase_of(t: float, windows: Sequence[PhaseWindow]) -> str | None:
    """The phase whose window holds `t` (the later one at a boundary), or None."""
    ordered = sorted(windows, key=lambda w: w.start)
    pos = bisect.bisect_right([w.start for w in ordered], t) - 1
    if pos >= 0 and t <= ordered[pos].end:
        return ordered[pos].name
    return None


def read_plan(run_dir: Path) -> MeshPlan | None:
    try:
        return MeshPlan.from_dict(json.loads((run_dir / "plan.json").read_text()))
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
