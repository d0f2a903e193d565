"""Access logs compressed while the run goes on, a minute at a time.

Envoy writes its access logs itself, plain, to files in the run's `logs/`
(`envoy.access_loggers.file`); it has no compressing logger. Rather than
route every line through meshsim (a gRPC access-log service: a protobuf
stream per proxy for what a file already does), the logs are rotated the
way logrotate does it with Envoy: every `ROTATE_S` the plain file is renamed
`x.jsonl.rotated` and the proxy's admin `POST /reopen_logs` makes Envoy
start a new `x.jsonl` (it writes what it had buffered to one file or the
other: no line is lost); one round later, when Envoy has long let go of
it, the rotated file is appended to `x.jsonl.gz` as gzip members and
deleted. So at most two minutes of a log are plain on disk at any time.

A proxy whose admin does not answer (killed by a chaos action, restarting)
keeps its rotated file until a later round reopens it, or until the run's
end, when `compress_access_logs` takes what is left once every Envoy has
stopped. Readers see the three parts in order through `meshsim.rundata`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from meshsim import rundata
from meshsim.rundir import RunDir

ROTATE_S = 60.0

# proxy -> did its Envoy reopen its access logs (admin POST /reopen_logs)
Reopen = Callable[[str], Awaitable[bool]]


class AccessLogRotator:
    def __init__(self, rd: RunDir, reopen: Reopen, every_s: float = ROTATE_S) -> None:
        self.rd = rd
        self.reopen = reopen
        self.every_s = every_s
        self.compressed = 0  # gzip bytes written so far
        self._released: list[Path] = []  # rotated files their Envoy let go of
        self._waiting: dict[str, list[Path]] = {}  # proxy -> rotated, not reopened yet
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.round()

    async def round(self) -> None:
        """Compress what the last round released, then rotate every log."""
        for path in self._released:
            try:
                self.compressed += rundata.compress_file(
                    rundata.rotated_path(path), rundata.gz_path(path)
                )
            except OSError:
                pass  # left for the run's end (compress_access_logs)
        self._released = []
        for path, proxy, _ in self.rd.access_logs():
            rotated = rundata.rotated_path(path)
            if rotated.exists():
                continue  # its last rotation is not released yet: its proxy is retried below
            try:
                if path.stat().st_size == 0:
                    continue
                path.rename(rotated)
            except OSError:
                continue  # no plain file right now, or not ours to rename (a container's)
            self._waiting.setdefault(proxy, []).append(path)
        for proxy in list(self._waiting):
            if await self.reopen(proxy):
                self._released += self._waiting.pop(proxy)
