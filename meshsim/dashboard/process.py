"""The dashboard beside a run: its own process, started and stopped by the runner.

A process of its own, not a task on the runner's event loop: reading and
parsing the run's files and answering browsers then never take the runner's
time or its interpreter lock, so a run with a dashboard measures what it
measures without one (docs/benchmarks.md), and a slow browser cannot hold up
a phase. It starts in a session of its own, so a Ctrl-C in the terminal
reaches meshsim, which stops it after the report; it is listed in the mesh's
record, so `meshsim down` (after `--keep`) and the clean-up of a killed run
stop it too.

Its stdin is a lifeline: a pipe from meshsim that nothing writes to. When
meshsim dies, however it dies (SIGKILL included), the kernel closes the pipe
and the dashboard stops on the end of file, so no dashboard outlives its run
by accident. A mesh kept with `--keep` sends `detach` first: the dashboard
then stays up until `meshsim down` stops it.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from meshsim.errors import MeshError, UsageError
from meshsim.runtime.registry import ProcessRecord, process_create_time, terminate

START_TIMEOUT_S = 60.0  # its imports, on a machine busy starting a mesh
PREFIX = "dashboard: "
DETACH = b"detach\n"


@dataclass
class DashboardProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    create_time: float = 0.0  # when it started: a reused pid is never taken for it

    def record(self) -> ProcessRecord:
        """The mesh record's entry (kind "dashboard")."""
        return ProcessRecord(
            "dashboard", "dashboard", self.proc.pid, self.create_time, str(self.log)
        )

    def detach(self) -> None:
        """Let the dashboard outlive meshsim (a mesh kept with --keep)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.write(DETACH)
                self.proc.stdin.close()

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(ProcessLookupError, OSError):
            terminate([self.record()], timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1.0)


def start_dashboard(
    run_dir: Path, port: int | None, log: Path, *, timeout: float = START_TIMEOUT_S
) -> DashboardProcess:
    """Start the dashboard on `run_dir` (live) and wait until it serves.

    UsageError (exit 2) when it cannot take `port`; MeshError naming its log
    when it does not come up."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "meshsim.dashboard", str(run_dir), "--live"]
    argv += ["--port", str(port or 0), "--lifeline"]
    with log.open("ab") as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break  # it exited
            line += chunk
    proc.stdout.close()
    text = line.decode(errors="replace").strip()
    if text.startswith(PREFIX):
        return DashboardProcess(proc, text.removeprefix(PREFIX), log, process_create_time(proc.pid))
    if proc.stdin is not None:
        proc.stdin.close()  # the lifeline: a dashboard that hangs instead stops on it
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    said = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    last = said[-1] if said else ""
    if proc.returncode == 2 and last:
        raise UsageError(
            last.removeprefix("meshsim dashboard: ").replace("--port", "--dashboard-port")
        )
    raise MeshError(f"did not start ({last or 'no output'})", component="dashboard", log=log)
