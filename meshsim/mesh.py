"""A running mesh: the data plane (apps, sidecars, ingress) plus its control plane.

`Mesh` is what the runner, `meshsim bench` and notebooks use to bring the
shop up and down; it knows nothing about phases or load.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import aiohttp

from meshsim.control.ca import DEFAULT_CERT_TTL_S, CertificateAuthority
from meshsim.control.observe import ZIPKIN_FLUSH_S, Observability
from meshsim.control.plan import MeshPlan
from meshsim.control.push import ControlPlane
from meshsim.control.sds import CertRotator
from meshsim.control.security import identities
from meshsim.control.writer import ConfigWriter, atomic_write
from meshsim.errors import MeshError
from meshsim.events import RunEventHandler
from meshsim.runtime.base import Runtime
from meshsim.runtime.limits import check_inotify, watched_sources
from meshsim.runtime.registry import MeshRecord, process_create_time
from meshsim.telemetry.collector import SpanCollector
from meshsim.telemetry.settings import TelemetrySettings

READY_TIMEOUT_S = 30.0

FIRST_ORDER = {"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}


def new_run_id(scenario: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{scenario}-{uuid.uuid4().hex[:4]}"


def tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


class Mesh:
    def __init__(
        self,
        plan: MeshPlan,
        run_dir: Path,
        *,
        scenario: str = "mesh",
        runtime: str = "local",
        run_id: str | None = None,
        cert_ttl: float | None = None,
        telemetry: TelemetrySettings | None = None,
    ) -> None:
        self.plan = plan
        # Tracing and access logs; None (as for `meshsim bench`): the Envoy config without them.
        self.telemetry = telemetry
        self.collector: SpanCollector | None = None
        self.run_dir = run_dir
        self.run_id = run_id or run_dir.name
        self.writer = ConfigWriter(run_dir / "xds")
        self.control = ControlPlane(plan, self.writer)
        # A root CA per run; every proxy's SVID delivered and renewed through SDS files.
        self.certs = CertRotator(
            CertificateAuthority.generate(),
            self.writer.paths,
            identities(plan),
            run_dir,
            cert_ttl or DEFAULT_CERT_TTL_S,
        )
        self.record = MeshRecord(
            run_id=self.run_id,
            run_dir=str(run_dir),
            scenario=scenario,
            runtime=runtime,
            owner_pid=os.getpid(),
            owner_create_time=process_create_time(os.getpid()),
            started_at=time.time(),
            ingress_port=plan.ingress.port,
        )
        self.runtime = self._make_runtime(runtime)

    def _make_runtime(self, name: str) -> Runtime:
        if name == "local":
            from meshsim.runtime.local import LocalRuntime

            return LocalRuntime(self.run_dir, self.record)
        if name == "docker":
            from meshsim.runtime.docker import DockerRuntime

            return DockerRuntime(self.run_dir, self.record, self.writer)
        raise MeshError(
            f"unknown runtime {name!r}; expected 'local' or 'docker'", component="runtime"
        )

    @property
    def ingress_url(self) -> str:
        return self.plan.ingress.url

    async def start(self, events: RunEventHandler | None = None) -> float:
        """Start everything and wait until the mesh serves a first order.
        Returns seconds from the call to ready."""
        events = events or RunEventHandler()
        t0 = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.record.save()
        if self.runtime.name != "local":
            events.step(f"preparing the {self.runtime.name} runtime (network, pods, images)")
        # The runtime may give instances their addresses (Docker: pod IPs, published ports).
        self.plan = self.control.plan = await self.runtime.prepare(self.plan, events)
        atomic_write(self.run_dir / "plan.json", json.dumps(self.plan.to_dict(), indent=1))
        events.step("issuing workload certificates and writing Envoy configuration")
        self.certs.issue_all()
        self.certs.start()
        await self._start_telemetry(events)
        self.control.write_initial()
        check_inotify(self.inotify_needed(), f"a mesh of {len(self.plan.proxies)} Envoys")
        events.step(
            f"starting {len(self.plan.instances)} instances, their sidecars and the ingress"
        )
        await self.runtime.start_ingress(
            self.plan.ingress, self.writer.root / self.plan.ingress.name / "bootstrap.json"
        )
        for inst in self.plan.instances:
            await self.runtime.start_instance(inst, self.writer.root / inst.name / "bootstrap.json")
        self.record.status = "running"
        self.record.save()
        await self._wait_ready(events)
        return time.perf_counter() - t0

    async def _start_telemetry(self, events: RunEventHandler) -> None:
        """The span collector first: every proxy's configuration names its port."""
        t = self.telemetry
        if t is None or not t.enabled:
            return
        collector = None
        bind, reach = self.runtime.callback_address()
        if t.tracing:
            self.collector = SpanCollector(self.run_dir / "traces.jsonl", host=bind)
            collector = (reach, await self.collector.start())
        self.control.observability = Observability(collector, t.sampling, t.access_logs)

    def inotify_needed(self) -> int:
        """Inotify instances the mesh's Envoys will hold: listeners and clusters
        (from the bootstrap) plus every route configuration and secret they watch."""
        return sum(
            2 + len(watched_sources(c.listeners, c.clusters, c.routes))
            for c in self.control.configs.values()
        )

    def _raise_if_died(self) -> None:
        dead = self.runtime.died()
        if dead:
            c = dead[0]
            last = tail(c.log)
            raise MeshError(
                "exited during start-up" + (f":\n{last}" if last else ""),
                component=c.name,
                log=c.log,
            )

    async def _wait_ready(self, events: RunEventHandler) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        session = await self.control.session()
        pending_envoy = set(self.plan.proxies)
        pending_app = {i.name for i in self.plan.instances}
        while pending_envoy or pending_app:
            self._raise_if_died()
            if time.monotonic() > deadline:
                who = sorted(pending_envoy | pending_app)[0]
                log = (
                    self.run_dir
                    / "logs"
                    / (f"{who}.envoy.log" if who in pending_envoy else f"{who}.app.log")
                )
                raise MeshError(f"not ready after {READY_TIMEOUT_S:.0f}s", component=who, log=log)
            checks = [self._envoy_ready(session, p) for p in pending_envoy] + [
                self._app_ready(session, n) for n in pending_app
            ]
            results = await asyncio.gather(*checks)
            n_envoy = len(pending_envoy)
            for k, (name, ok) in enumerate(results):
                if ok:
                    (pending_envoy if k < n_envoy else pending_app).discard(name)
            await asyncio.sleep(0.02)
        events.step("every sidecar is LIVE; sending a first order through the ingress")
        await self._first_order(session, deadline)

    async def _envoy_ready(self, session: aiohttp.ClientSession, proxy: str) -> tuple[str, bool]:
        return proxy, await self.control.admin(proxy, session).ready()

    async def _app_ready(self, session: aiohttp.ClientSession, name: str) -> tuple[str, bool]:
        host, port = self.plan.instance(name).app_address
        try:
            async with session.get(
                f"http://{host}:{port}/healthz",
                timeout=aiohttp.ClientTimeout(total=1),
            ) as r:
                return name, r.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return name, False

    async def _first_order(self, session: aiohttp.ClientSession, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            self._raise_if_died()
            try:
                async with session.post(
                    self.ingress_url + "/orders",
                    json=FIRST_ORDER,
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as r:
                    if r.status == 201:
                        return
                    last = f"HTTP {r.status}: {(await r.text())[:200]}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.05)
        raise MeshError(
            f"the first POST /orders through the ingress did not succeed ({last})",
            component="ingress gateway",
            log=self.run_dir / "logs" / f"{self.plan.ingress.name}.envoy.log",
        )

    async def stop(self, keep: bool = False) -> None:
        if self.collector is not None:
            # Envoy sends spans in batches, at least every ZIPKIN_FLUSH_S: wait for the last.
            await asyncio.sleep(ZIPKIN_FLUSH_S + 0.3)
        await self.certs.stop()
        await self.control.close()
        if keep:
            self.record.keep = True
            self.record.status = "kept"
            self.record.save()
            await self.runtime.detach()
            await self._stop_collector()
            return
        self.record.status = "stopping"
        self.record.save()
        await self.runtime.stop_all()
        await self._stop_collector()
        self.record.delete()

    async def _stop_collector(self) -> None:
        if self.collector is not None:
            await self.collector.stop()
            self.collector = None
