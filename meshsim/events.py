"""Run events: how progress reaches a terminal, a notebook or a test without
the runner knowing any of them.

A handler overrides the methods it cares about; the rest are no-ops. A handler
that raises is logged and skipped, never allowed to break the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """A snapshot of the running phase, a few times a second."""

    phase: str
    index: int
    elapsed_s: float
    planned_s: float
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass
class RunInfo:
    run_id: str
    run_dir: Path
    scenario: str
    runtime: str
    instances: list[str] = field(default_factory=list)
    ingress_url: str = ""


class RunEventHandler:
    def run_started(self, run: RunInfo) -> None: ...
    def dashboard_started(self, url: str) -> None: ...
    def step(self, message: str) -> None: ...
    def mesh_ready(self, run: RunInfo, ready_s: float) -> None: ...
    def phase_started(self, name: str, index: int, planned_s: float) -> None: ...
    def progress(self, snapshot: Progress) -> None: ...
    def policy_applied(self, phase: str, resources: list[str], took_s: float) -> None: ...
    def action_done(self, phase: str, action: str, target: str) -> None: ...
    def phase_settled(self, name: str, index: int, settle_s: float) -> None: ...
    def phase_ended(self, name: str, index: int, status: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def run_finished(self, run: RunInfo, status: str, report: Any | None) -> None: ...


class EventBus(RunEventHandler):
    """Fans each event out to every handler; a failing handler is logged."""

    def __init__(self, handlers: list[RunEventHandler] | None = None) -> None:
        self.handlers: list[RunEventHandler] = list(handlers or [])

    def add(self, handler: RunEventHandler) -> None:
        self.handlers.append(handler)

    def _fire(self, name: str, *args: Any) -> None:
        for h in self.handlers:
            try:
                getattr(h, name)(*args)
            except Exception:  # a display problem must never stop a run
                log.exception("event handler %r failed on %s", h, name)

    def run_started(self, run: RunInfo) -> None:
        self._fire("run_started", run)

    def dashboard_started(self, url: str) -> None:
        self._fire("dashboard_started", url)

    def step(self, message: str) -> None:
        self._fire("step", message)

    def mesh_ready(self, run: RunInfo, ready_s: float) -> None:
        self._fire("mesh_ready", run, ready_s)

    def phase_started(self, name: str, index: int, planned_s: float) -> None:
        self._fire("phase_started", name, index, planned_s)

    def progress(self, snapshot: Progress) -> None:
        self._fire("progress", snapshot)

    def policy_applied(self, phase: str, resources: list[str], took_s: float) -> None:
        self._fire("policy_applied", phase, resources, took_s)

    def action_done(self, phase: str, action: str, target: str) -> None:
        self._fire("action_done", phase, action, target)

    def phase_settled(self, name: str, index: int, settle_s: float) -> None:
        self._fire("phase_settled", name, index, settle_s)

    def phase_ended(self, name: str, index: int, status: str) -> None:
        self._fire("phase_ended", name, index, status)

    def warning(self, message: str) -> None:
        self._fire("warning", message)

    def run_finished(self, run: RunInfo, status: str, report: Any | None) -> None:
        self._fire("run_finished", run, status, report)
