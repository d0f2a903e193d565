"""A Zipkin collector inside meshsim's own process: spans in, `traces.jsonl` out.

Every proxy's Zipkin tracer (`meshsim.control.observe`) POSTs batches of
spans, Zipkin's JSON v2, to `/api/v2/spans`; each batch is appended to the
run directory's `traces.jsonl` as Envoy sent it, one JSON array per line
(`meshsim.telemetry.traces.read_spans` reads them). Nothing is parsed while
the run goes on: meshsim's process shares the CPU with the mesh. It listens
on 127.0.0.1 only (a port the kernel picks), so Envoys of the local runtime
reach it and nothing outside the machine does.

>>> collector = SpanCollector(RunDir(run_dir).traces)  # doctest: +SKIP
>>> port = await collector.start()                        # doctest: +SKIP
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import IO

from aiohttp import web

SPANS_PATH = "/api/v2/spans"


class SpanCollector:
    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = path
        self.host = host
        self.port = port
        self.batches = 0  # received so far
        self.rejected = 0  # batches that were not Zipkin JSON v2
        self._runner: web.AppRunner | None = None
        self._fh: IO[bytes] | None = None

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
        self._fh = self.path.open("ab")
        return self.port

    async def _receive(self, request: web.Request) -> web.Response:
        body = (await request.read()).strip()
        # A JSON array, kept as it came: its line breaks can only be whitespace.
        if not (body.startswith(b"[") and body.endswith(b"]")):
            self.rejected += 1
            return web.Response(status=400, text="expected Zipkin JSON v2: a list of spans\n")
        if self._fh is not None and body != b"[]":
            self._fh.write(body.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n")
            self._fh.flush()
            self.batches += 1
        return web.Response(status=202)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
