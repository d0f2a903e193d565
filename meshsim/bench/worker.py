"""The generator's process, seen from `meshsim bench`.

Why a process of its own: the bench process also runs the control plane
(compiling and writing configuration, polling every Envoy's admin API while a
change is pushed), samples memory with psutil and keeps the certificate
rotator's timer. Any of that running on the generator's event loop would
delay sends and reads by whole milliseconds, and the delay would be counted
against the mesh. In a process of its own the generator only competes for a
CPU, like any other process on the machine (docs/benchmarks.md measures the
difference).

`InProcessGenerator` has the same interface and runs segments on the
caller's loop: for tests, and for measuring that difference.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Protocol

from meshsim.bench.generator import Segment, SegmentResult, run_segment
from meshsim.errors import MeshError


class Generator(Protocol):
    async def run(
        self, seg: Segment, started: asyncio.Future[float] | None = None
    ) -> SegmentResult:
        """Run one segment; `started` gets the due time of its first request."""
        ...

    async def close(self) -> None: ...


class InProcessGenerator:
    """Runs segments on the current event loop."""

    async def run(
        self, seg: Segment, started: asyncio.Future[float] | None = None
    ) -> SegmentResult:
        return await run_segment(seg, started.set_result if started is not None else None)

    async def close(self) -> None:
        return None


class GeneratorProcess:
    """A `python -m meshsim.bench.generator` worker: one segment at a time.

    >>> gen = GeneratorProcess(Path("generator.log"))  # doctest: +SKIP
    >>> result = await gen.run(Segment(Target("http://127.0.0.1:8080/"), 200, 5))  # doctest: +SKIP
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "meshsim.bench.generator",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=1 << 26,  # records of a long segment come back on one line
            )

    async def run(
        self, seg: Segment, started: asyncio.Future[float] | None = None
    ) -> SegmentResult:
        async with self._lock:
            if self._proc is None:
                await self.start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None and proc.stdout is not None
            proc.stdin.write((json.dumps(seg.to_json()) + "\n").encode())
            await proc.stdin.drain()
            while True:
                line = await proc.stdout.readline()
                if not line:
                    raise MeshError(
                        "the load generator exited", component="generator", log=self.log
                    )
                reply = json.loads(line)
                if "started" not in reply:
                    break
                if started is not None and not started.done():
                    started.set_result(reply["started"])
            if "error" in reply:
                raise MeshError(reply["error"], component="generator", log=self.log)
            return SegmentResult.from_json(reply["result"])

    async def close(self) -> None:
        proc = self._proc
        self._proc = None
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
