"""A Zipkin collector inside meshsim's own process: spans in, `traces.jsonl.gz` out.

Every proxy's Zipkin tracer (`meshsim.control.observe`) POSTs batches of
spans, Zipkin's JSON v2, to `/api/v2/spans`. The collector keeps the traces
its `KeepPolicy` says (`meshsim.telemetry.keeping`: every error, the slowest
per phase and endpoint, a sample of the rest) and appends each kept trace as
one line, a JSON array of its spans as Envoy sent them (a line is a batch to
`meshsim.telemetry.traces.read_spans`). Lines go out once a second as one
gzip member (`meshsim.rundata`; plain `traces.jsonl` with
`telemetry.compress: false`), so a killed run keeps what was written up to
its last second. Deciding costs a JSON parse of each batch, ~500 spans a
second at 100 rps: a few % of one core, in exchange for a run directory
that does not grow with every request. It listens on 127.0.0.1 only (a port
the kernel picks), so Envoys of the local runtime reach it and nothing
outside the machine does.

>>> collector = SpanCollector(RunDir(run_dir).traces)  # doctest: +SKIP
>>> port = await collector.start()                        # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from meshsim import rundata
from meshsim.telemetry.keeping import KeepPolicy, TraceKeeper

SPANS_PATH = "/api/v2/spans"
SWEEP_S = 1.0  # how often complete traces are decided and written


class SpanCollector:
    def __init__(
        self,
        path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        policy: KeepPolicy | None = None,
        compress: bool = True,
    ) -> None:
        self.path = path  # the plain name; compressed, its `.gz` sibling is written
        self.host = host
        self.port = port
        self.compress = compress
        self.keeper = TraceKeeper(policy or KeepPolicy())
        self.batches = 0  # received so far
        self.rejected = 0  # batches that were not Zipkin JSON v2
        self._runner: web.AppRunner | None = None
        self._fd: int | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def phase_started(self) -> None:
        """A phase starts now: traces are put in phases by their root's start."""
        self.keeper.phase_started(time.time(), time.monotonic())

    def summary(self) -> dict[str, Any]:
        """The policy and its counts so far (run.json's `trace_keeping`)."""
        return {**self.keeper.policy.to_dict(), **self.keeper.counts.to_dict()}

    async def start(self) -> int:
        """Listen; returns the port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(SPANS_PATH, self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        target = rundata.gz_path(self.path) if self.compress else self.path
        self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._sweeper = asyncio.create_task(self._sweep())
        return self.port

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            self._write(self.keeper.sweep(time.monotonic()))

    def _write(self, traces: list[list[dict[str, Any]]]) -> None:
        if self._fd is None or not traces:
            return
        data = b"".join(
            json.dumps(spans, separators=(",", ":")).encode() + b"\n" for spans in traces
        )
        if self.compress:
            rundata.append_member(self._fd, data)
        else:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    async def _receive(self, request: web.Request) -> web.Response:
        body = (await request.read()).strip()
        try:
            spans = json.loads(body) if body.startswith(b"[") else None
        except ValueError:
            spans = None
        if not isinstance(spans, list):
            self.rejected += 1
            return web.Response(status=400, text="expected Zipkin JSON v2: a list of spans\n")
        if spans:
            self.batches += 1
            self._write(
                self.keeper.add([s for s in spans if isinstance(s, dict)], time.monotonic())
            )
        return web.Response(status=202)

    async def stop(self) -> None:
        """Stop listening, decide every trace still open, write and close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._fd is not None:
            self._write(self.keeper.close())
            os.close(self._fd)
            self._fd = None
