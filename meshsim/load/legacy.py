"""Legacy clients: workloads outside the mesh, calling a sidecar directly.

A legacy client has no sidecar and no certificate. It sends plaintext HTTP
straight to the inbound port of a service's sidecar, the way a VM or a pod
without injection would call a Kubernetes Service. Under PERMISSIVE (Istio's
default) and DISABLE the sidecar accepts it; under STRICT the sidecar has no
plaintext filter chain and closes the connection.

It runs inside meshsim's own asyncio loop (a few requests per second need no
process of their own) and records each request in the run's records directory
in the locustfile's format (`meshsim.load.records`), with the client's name
as the journey, so the report shows it beside the shoppers.

Each request opens a new connection: a legacy caller is cut off the moment
STRICT is in force, not when an old keep-alive connection happens to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import aiohttp

from meshsim.control.plan import Instance
from meshsim.load.records import served_by
from meshsim.scenario.model import LegacyClient

REQUEST_TIMEOUT_S = 3.0
MAX_IN_FLIGHT = 64


def records_file(records_dir: Path, client: LegacyClient) -> Path:
    return records_dir / f"requests-legacy-{client.name}.jsonl"


class LegacyCaller:
    """Calls `targets` (sidecar instances, in turn) at `client.rps`, open loop.

    Example::

        caller = LegacyCaller(client, plan.select(client.target), RunDir(run_dir).records)
        caller.start()
        ...
        await caller.stop()
    """

    def __init__(self, client: LegacyClient, targets: list[Instance], records_dir: Path) -> None:
        if not targets:
            raise ValueError(f"legacy client {client.name}: no instance matches {client.target}")
        self.client = client
        self.targets = targets
        self.path = records_file(records_dir, client)
        self.sent = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    def _record(self, t: float, status: int, latency_s: float, served_by: str | None,
                upstreams: str | None, error: str | None) -> None:  # fmt: skip
        record = {
            "t": round(t, 6),
            "journey": self.client.name,
            "name": f"{self.client.method} {self.client.path}",
            "status": status,
            "ok": error is None,
            "latency_us": max(1, round(latency_s * 1_000_000)),
            "instance": served_by,
            "upstreams": [u.strip() for u in upstreams.split(",") if u.strip()]
            if upstreams
            else [],
            "error": error,
        }
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")

    async def _one(self, session: aiohttp.ClientSession, target: Instance) -> None:
        host, port = target.inbound_address  # published on 127.0.0.1 under Docker
        url = f"http://{host}:{port}{self.client.path}"
        t = time.time()
        start = time.perf_counter()
        try:
            async with session.request(
                self.client.method, url, headers={"host": target.service}
            ) as resp:
                await resp.read()
                error = f"HTTP {resp.status}" if resp.status >= 400 else None
                self._record(t, resp.status, time.perf_counter() - start,
                             served_by(resp.headers.get("x-served-by"),
                                       resp.headers.get("x-meshsim-served-by")),
                             resp.headers.get("x-upstreams"),
                             error)  # fmt: skip
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._record(t, 0, time.perf_counter() - start, None, None, type(exc).__name__)

    async def _run(self) -> None:
        interval = 1.0 / self.client.rps
        connector = aiohttp.TCPConnector(force_close=True, limit=MAX_IN_FLIGHT)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, trust_env=False
        ) as session:
            next_at = time.monotonic()
            while not self._stopping.is_set():
                if len(self._in_flight) < MAX_IN_FLIGHT:
                    target = self.targets[self.sent % len(self.targets)]
                    task = asyncio.ensure_future(self._one(session, target))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                    self.sent += 1
                next_at += interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), max(0.0, next_at - time.monotonic())
                    )
            # Let the requests in flight finish (and be recorded) before the session closes.
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=REQUEST_TIMEOUT_S)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop sending; requests in flight get a moment to finish and be recorded."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(self._task, REQUEST_TIMEOUT_S + 1)
        except TimeoutError:
            pass
        self._task = None
