"""Small readers of a run directory for the dashboard: is it one, is it live,
and the shapes of what it holds."""

from __future__ import annotations

import time
from typing import Any

from meshsim.errors import UsageError
from meshsim.rundir import RunDir
from meshsim.timeline import PhaseWindow, read_events

LIVE_WITHIN_S = 30.0


def check_run_dir(run_dir: Any) -> RunDir:
    """UsageError (exit 2) for a path that is not a meshsim run directory."""
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise UsageError(f"{run_dir}: no such directory (expected a meshsim run directory)")
    if not rd.is_run():
        raise UsageError(
            f"{run_dir} is not a meshsim run directory: it has neither run.json nor .meshsim-run"
        )
    return rd


def looks_live(rd: RunDir, now: float | None = None) -> bool:
    """A run still going on: no `run_end` yet and phases.jsonl, metrics.jsonl
    or the records written to within LIVE_WITHIN_S (a killed run's files have
    gone quiet)."""
    if any(e.event == "run_end" for e in read_events(rd.phases, [])):
        return False
    now = time.time() if now is None else now
    paths = [rd.phases, rd.metrics, *(rd.records.glob("*") if rd.records.is_dir() else [])]
    for path in paths:
        try:
            if now - path.stat().st_mtime < LIVE_WITHIN_S:
                return True
        except OSError:
            continue
    return False


def window_at(windows: list[PhaseWindow], t: float) -> PhaseWindow | None:
    """The window whose start is the latest at or before `t` (as the report assigns)."""
    found = None
    for window in windows:
        if window.start <= t:
            found = window
    return found if found is not None and t <= found.end else None


def by_phase(raw: Any) -> dict[str, list[dict[str, Any]]]:
    """edges.json's `phases` (or `settled`): phase name → its edges."""
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): [e for e in v if isinstance(e, dict)] for k, v in raw.items() if isinstance(v, list)
    }


def resource_name(resource: dict[str, Any]) -> str:
    """`Kind/name` of an Istio resource as a scenario applies it."""
    kind = resource.get("kind", "?")
    meta = resource.get("metadata") or {}
    return f"{kind}/{meta.get('name', '?')}" if isinstance(meta, dict) else str(kind)
