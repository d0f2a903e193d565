"""The shop without a mesh: the same app processes, wired straight to each other.

This is the baseline the mesh's chain throughput is compared with. Each app
gets `SERVICE_ADDRESSES` (see sample_services/common.py), a static name table
that makes `http://product/...` connect to product's own port, the way
cluster DNS hands an app its peer's address when no sidecar is injected. No
proxy of any kind sits between the apps (HTTP_PROXY is unset), and no Envoy
at the edge: the client calls the order app itself. Against the mesh, the
difference is therefore everything the mesh adds: the ingress gateway and
every sidecar hop.

The processes are written to a mesh record like a mesh's, so `meshsim down`
stops them if the bench is killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from meshsim.control.plan import free_ports
from meshsim.errors import MeshError
from meshsim.rundir import RunDir
from meshsim.runtime.commands import PROXY_ENV
from meshsim.runtime.registry import MeshRecord, ProcessRecord, process_create_time, terminate
from meshsim.shop import SHOP

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DirectApp:
    service: str
    version: str
    index: int
    port: int
    host: str = "127.0.0.1"

    @property
    def name(self) -> str:
        return f"{self.service}-{self.version}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def service_addresses(apps: list[DirectApp]) -> str:
    """The `SERVICE_ADDRESSES` table for `apps`.

    >>> service_addresses([DirectApp("user", "v1", 0, 9001), DirectApp("product", "v1", 0, 9002),
    ...                    DirectApp("product", "v2", 0, 9003)])
    'user=127.0.0.1:9001,product=127.0.0.1:9002;127.0.0.1:9003'
    """
    table: dict[str, list[str]] = {}
    for app in apps:
        table.setdefault(app.service, []).append(f"{app.host}:{app.port}")
    return ",".join(f"{service}={';'.join(addrs)}" for service, addrs in table.items())


class DirectShop:
    """The shop's apps as plain processes, wired by name table, no sidecars."""

    def __init__(self, services: dict[str, dict[str, int]], run_dir: Path) -> None:
        layout = [
            (svc, ver, idx)
            for svc, versions in services.items()
            for ver, replicas in versions.items()
            for idx in range(replicas)
        ]
        ports = free_ports(len(layout))
        self.apps = [DirectApp(s, v, i, p) for (s, v, i), p in zip(layout, ports, strict=True)]
        self.run_dir = run_dir
        self.logs = RunDir(run_dir).logs
        self.record = MeshRecord(
            run_id=f"{run_dir.name}-no-sidecar",
            run_dir=str(run_dir),
            scenario="bench-no-sidecar",
            runtime="local",
            owner_pid=os.getpid(),
            owner_create_time=process_create_time(os.getpid()),
            started_at=time.time(),
        )
        self._procs: list[asyncio.subprocess.Process] = []

    def app(self, service: str) -> DirectApp:
        return next(a for a in self.apps if a.service == service)

    async def start(self) -> float:
        """Start every app and wait until each answers /healthz; returns seconds taken."""
        t0 = time.perf_counter()
        self.logs.mkdir(parents=True, exist_ok=True)
        table = service_addresses(self.apps)
        base = {k: v for k, v in os.environ.items() if k not in PROXY_ENV}
        for app in self.apps:
            env = base | {
                "PORT": str(app.port),
                "HOST": app.host,
                "INSTANCE_NAME": app.name,
                "SERVICE_VERSION": app.version,
                "SERVICE_ADDRESSES": table,
                "PYTHONUNBUFFERED": "1",
            }
            log = self.logs / f"{app.name}.no-sidecar.app.log"
            with log.open("ab") as fh:
                proc = await asyncio.create_subprocess_exec(
                    *SHOP[app.service].argv(app.version, app.port, sys.executable),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=fh,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            self._procs.append(proc)
            self.record.processes.append(
                ProcessRecord(
                    f"{app.name}/app",
                    "app",
                    proc.pid,
                    process_create_time(proc.pid),
                    str(log),
                    instance=app.name,
                    ports={"app": app.port},
                )
            )
        self.record.status = "running"
        self.record.save()
        await self._wait_ready()
        return time.perf_counter() - t0

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(self.apps)
        async with aiohttp.ClientSession(trust_env=False) as session:
            while pending:
                for proc, app in zip(self._procs, self.apps, strict=True):
                    if proc.returncode is not None:
                        raise MeshError(
                            "exited during start-up",
                            component=f"{app.name} (no-sidecar)",
                            log=self.logs / f"{app.name}.no-sidecar.app.log",
                        )
                still = []
                for app in pending:
                    try:
                        async with session.get(
                            app.url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)
                        ) as r:
                            if r.status != 200:
                                still.append(app)
                    except (aiohttp.ClientError, TimeoutError, OSError):
                        still.append(app)
                pending = still
                if pending and time.monotonic() > deadline:
                    raise MeshError(
                        f"not ready after {READY_TIMEOUT_S:.0f}s",
                        component=f"{pending[0].name} (no-sidecar)",
                    )
                if pending:
                    await asyncio.sleep(0.05)

    def pids(self) -> dict[str, int]:
        return {f"{a.name}/app": p.pid for a, p in zip(self.apps, self._procs, strict=True)}

    async def stop(self) -> None:
        records = list(self.record.processes)
        await asyncio.get_running_loop().run_in_executor(None, terminate, records, 5.0)
        for proc in self._procs:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 1.0)
                except TimeoutError:
                    pass
        self.record.delete()
