"""Where running meshes are written down, so nothing outlives meshsim unseen.

Each run writes `$MESHSIM_HOME/meshes/<run_id>.json` (default
`~/.meshsim`) listing its owner process and every child with its pid and
start time. `meshsim status` reads these; `meshsim down` and the next
`meshsim up` stop whatever a killed run left behind. The start time guards
against killing an unrelated process that reused a pid.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from meshsim.control.writer import atomic_write


def home() -> Path:
    return Path(os.environ.get("MESHSIM_HOME", Path.home() / ".meshsim"))


def meshes_dir() -> Path:
    d = home() / "meshes"
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass
class ProcessRecord:
    name: str
    kind: str
    pid: int
    create_time: float
    log: str
    instance: str = ""
    ports: dict[str, int] = field(default_factory=dict)


@dataclass
class MeshRecord:
    run_id: str
    run_dir: str
    scenario: str
    runtime: str
    owner_pid: int
    owner_create_time: float
    started_at: float
    ingress_port: int = 0
    keep: bool = False
    status: str = "starting"  # starting | running | kept | stopping
    processes: list[ProcessRecord] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return meshes_dir() / f"{self.run_id}.json"

    def save(self) -> None:
        # Saved once per instance started: compact JSON from the fields as they
        # are (asdict's deep copy and the indented, pure-Python encoder cost
        # 0.6 s of CPU over a 100-instance start).
        fields = {**vars(self), "processes": [vars(p) for p in self.processes]}
        atomic_write(self.path, json.dumps(fields))

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> MeshRecord:
        data = json.loads(path.read_text(encoding="utf-8"))
        procs = [ProcessRecord(**p) for p in data.pop("processes", [])]
        return cls(**data, processes=procs)

    def owner_alive(self) -> bool:
        return same_process(self.owner_pid, self.owner_create_time)


def all_meshes() -> list[MeshRecord]:
    out = []
    for path in sorted(meshes_dir().glob("*.json")):
        try:
            out.append(MeshRecord.load(path))
        except (ValueError, TypeError, KeyError, OSError):
            path.unlink(missing_ok=True)  # a torn or foreign file: nothing to trust in it
    return out


def process_create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def same_process(pid: int, create_time: float) -> bool:
    """True when `pid` is still the process that started at `create_time`."""
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - create_time) < 0.5 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def terminate(records: list[ProcessRecord], timeout: float = 5.0) -> list[str]:
    """Stop the listed processes (and their process groups): SIGTERM, then
    SIGKILL after `timeout`. Returns the names of those that were running."""
    alive = [r for r in records if same_process(r.pid, r.create_time)]
    for r in alive:
        _signal_group(r.pid, signal.SIGTERM)
        _signal_group(r.pid, signal.SIGCONT)  # a paused process must wake to exit
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(same_process(r.pid, r.create_time) for r in alive):
            break
        time.sleep(0.05)
    for r in alive:
        if same_process(r.pid, r.create_time):
            _signal_group(r.pid, signal.SIGKILL)
    return [r.name for r in alive]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Children are started in their own session, so their pgid is their pid.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
