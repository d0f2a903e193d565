"""A running mesh: the data plane (apps, sidecars, ingress) plus its control plane.

`Mesh` is what the runner, `meshsim bench` and notebooks use to bring the
shop up and down; it knows nothing about phases or load.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from meshsim.chaos import REFUSED_HEADER
from meshsim.control import issuer as jwt_issuer
from meshsim.control.ca import DEFAULT_CERT_TTL_S, CertificateAuthority
from meshsim.control.observe import ZIPKIN_FLUSH_S, Observability
from meshsim.control.plan import MeshPlan
from meshsim.control.push import ControlPlane
from meshsim.control.sds import CertRotator
from meshsim.control.security import identities
from meshsim.control.writer import ConfigWriter, atomic_write
from meshsim.errors import MeshError
from meshsim.events import RunEventHandler
from meshsim.rundir import RunDir
from meshsim.runtime.base import Runtime
from meshsim.runtime.registry import MeshRecord, process_create_time
from meshsim.telemetry.collector import SpanCollector
from meshsim.telemetry.keeping import KeepPolicy
from meshsim.telemetry.settings import TelemetrySettings

READY_TIMEOUT_S = 30.0
# Readiness is polled every 20 ms plus 2 ms per component still pending (at
# most 250 ms): a round asks every pending Envoy and app, so 200 of them asked
# every 20 ms cost meshsim more CPU than it saves wall time.
POLL_S, POLL_PER_PENDING_S, POLL_MAX_S = 0.02, 0.002, 0.25


def poll_interval(pending: int) -> float:
    """
    >>> poll_interval(1), poll_interval(50), poll_interval(500)
    (0.022, 0.12, 0.25)
    """
    return round(min(POLL_MAX_S, POLL_S + POLL_PER_PENDING_S * pending), 3)


def new_run_id(scenario: str) -> str:
    """`20261126-120000-baseline-ab12`: one path component whatever the name
    holds (a scenario's name is free text: "x/../../tmp" stays in meshsim-runs/)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slug(scenario)}-{uuid.uuid4().hex[:4]}"


def run_id_of_dir(run_dir: Path) -> str:
    """The run id of a run directory the user chose (`--run-dir`): its name as
    one safe token plus a hash of its full path, so two runs in directories of
    the same name (`a/run` and `b/run`, as parallel CI jobs on one runner have)
    never share a container, network or mesh record name. The same directory
    always gets the same id.

    >>> run_id_of_dir(Path("/tmp/a/run")) != run_id_of_dir(Path("/tmp/b/run"))
    True
    """
    digest = hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:6]
    return f"{slug(run_dir.name)}-{digest}"


def slug(name: str) -> str:
    """`resilience drill` → `resilience-drill`: letters, digits, '_', '.' and '-'
    only, no leading dot, at most 60 characters ("run" when nothing is left).

    >>> slug("x/../../../tmp/escaped")
    'x-tmp-escaped'
    """
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    text = re.sub(r"\.{2,}", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-.")[:60].strip("-.")
    return text or "run"


def tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace", encoding="utf-8").rstrip().splitlines()
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
        # the collector's policy and counts once it stopped (run.json's trace_keeping)
        self.trace_keeping: dict[str, Any] | None = None
        self.run_dir = run_dir
        self.run_id = run_id or run_dir.name
        self.files = RunDir(run_dir)
        self.writer = ConfigWriter(self.files.xds)
        self.control = ControlPlane(plan, self.writer)
        # A root CA per run; every proxy's SVID delivered and renewed over SDS on its ADS stream.
        self.certs = CertRotator(
            CertificateAuthority.generate(),
            self.control.ads,
            identities(plan),
            run_dir,
            cert_ttl or DEFAULT_CERT_TTL_S,
        )
        # A JWT issuer per run: its keys stand in for every RequestAuthentication's
        # jwksUri (meshsim.control.issuer); `meshsim token` and cohorts sign with it.
        self.issuer = jwt_issuer.Issuer.generate()
        self.control.state.local_jwks = self.issuer.jwks()
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
        atomic_write(self.files.plan, json.dumps(self.plan.to_dict(), indent=1))
        events.step("issuing workload certificates and compiling Envoy configuration")
        # Every Envoy dials the control plane's ADS server: it listens before any starts.
        await self.control.serve(*self.runtime.callback_address())
        self.certs.issue_all()
        jwt_issuer.save(self.issuer, self.run_dir)
        self.certs.start()
        await self._start_telemetry(events)
        self.control.write_initial()
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
        await self.control.recorded()  # `meshsim config` reads them once the mesh is up
        return time.perf_counter() - t0

    async def _start_telemetry(self, events: RunEventHandler) -> None:
        """The span collector first: every proxy's configuration names its port."""
        t = self.telemetry
        if t is None or not t.enabled:
            return
        collector = None
        bind, reach = self.runtime.callback_address()
        if t.tracing:
            policy = KeepPolicy(
                keep_errors=t.keep_errors, keep_slowest=t.keep_slowest, keep_sample=t.keep_sample
            )
            self.collector = SpanCollector(
                self.files.traces, host=bind, policy=policy, compress=t.compress
            )
            collector = (reach, await self.collector.start())
        self.control.observability = Observability(collector, t.sampling, t.access_logs)

    def _raise_if_died(self) -> None:
        dead = self.runtime.died()
        if dead:
            c = dead[0]
            last = tail(c.log)
            shown = f" (command: {c.command})" if c.command else ""
            raise MeshError(
                f"exited during start-up{shown}" + (f":\n{last}" if last else ""),
                component=c.name,
                log=c.log,
            )

    async def _wait_ready(self, events: RunEventHandler) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        session = await self.control.session()
        pending_envoy = set(self.plan.proxies)
        pending_app = {i.name for i in self.plan.instances}
        self._app_state: dict[str, str] = {}
        while pending_envoy or pending_app:
            self._raise_if_died()
            if time.monotonic() > deadline:
                if pending_app:
                    raise self._app_not_ready(sorted(pending_app)[0])
                who = sorted(pending_envoy)[0]
                log = self.files.envoy_log(who)
                raise MeshError(f"not ready after {READY_TIMEOUT_S:.0f}s", component=who, log=log)
            checks = [self._envoy_ready(session, p) for p in pending_envoy] + [
                self._app_ready(session, n) for n in pending_app
            ]
            results = await asyncio.gather(*checks)
            n_envoy = len(pending_envoy)
            for k, (name, ok) in enumerate(results):
                if ok:
                    (pending_envoy if k < n_envoy else pending_app).discard(name)
            await asyncio.sleep(poll_interval(len(pending_envoy) + len(pending_app)))
        first = "order" if self.plan.app.builtin else f"request ({self.plan.app.ready.describe()})"
        events.step(f"every sidecar is LIVE; sending a first {first} through the ingress")
        await self._first_order(session, deadline)

    async def _envoy_ready(self, session: aiohttp.ClientSession, proxy: str) -> tuple[str, bool]:
        return proxy, await self.control.admin(proxy, session).ready()

    async def _app_ready(self, session: aiohttp.ClientSession, name: str) -> tuple[str, bool]:
        """Ready: GET on the service's health path answers 200 (the shop's
        /healthz); without a health path, its port accepts a connection."""
        inst = self.plan.instance(name)
        host, port = inst.app_address
        health = self.plan.app.services[inst.service].health
        if health is None and self.runtime.app_probe_http:
            health = "/"  # the probe checks the app's port itself
        try:
            if health is None:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
                writer.close()
                return name, True
            async with session.get(
                f"http://{host}:{port}{health}",
                timeout=aiohttp.ClientTimeout(total=1),
            ) as r:
                if r.headers.get(REFUSED_HEADER) == "refused":  # Docker's probe listener said
                    self._app_state[name] = f"nothing listens on its port {inst.app_port} (PORT)"
                else:
                    self._app_state[name] = f"GET {health} answered HTTP {r.status}, not 200"
                return name, r.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            refused = isinstance(exc, ConnectionRefusedError | aiohttp.ClientConnectorError)
            self._app_state[name] = (
                f"nothing listens on its port {port} (PORT)"
                if refused
                else f"GET {health} on port {port} failed: {type(exc).__name__}"
            )
            return name, False

    def _app_not_ready(self, name: str) -> MeshError:
        """An app that never became ready: why, its command and its log's last lines."""
        inst = self.plan.instance(name)
        service = self.plan.app.services[inst.service]
        log = self.files.app_log(name)
        why = self._app_state.get(name, "no answer")
        last = tail(log)
        return MeshError(
            f"not ready after {READY_TIMEOUT_S:.0f}s: {why} (command: "
            f"{service.shown_command(inst.version)})" + (f":\n{last}" if last else ""),
            component=f"{name}/app",
            log=log,
        )

    async def _first_order(self, session: aiohttp.ClientSession, deadline: float) -> None:
        """The application's ready request through the ingress (the shop's first
        POST /orders) until it is answered as expected."""
        ready = self.plan.app.ready
        last = ""
        while time.monotonic() < deadline:
            self._raise_if_died()
            try:
                async with session.request(
                    ready.method,
                    self.ingress_url + ready.path,
                    json=ready.body,
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as r:
                    if ready.accepts(r.status):
                        return
                    last = f"HTTP {r.status}: {(await r.text())[:200]}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.05)
        raise MeshError(
            f"the first {ready.describe()} through the ingress did not succeed ({last})",
            component="ingress gateway",
            log=self.files.envoy_log(self.plan.ingress.name),
        )

    async def stop(self, keep: bool = False) -> None:
        if self.collector is not None:
            # Envoy sends spans in batches, at least every ZIPKIN_FLUSH_S: wait for the last.
            await asyncio.sleep(ZIPKIN_FLUSH_S + 0.3)
        # Each step in its own `finally`: one that fails (a full disk cannot
        # save the record) never leaves the processes running; an error is
        # raised once every step was tried.
        try:
            await self.certs.stop()
        finally:
            try:
                await self.control.close()
            finally:
                await self._stop_processes(keep)

    async def _stop_processes(self, keep: bool) -> None:
        try:
            self.record.keep = self.record.keep or keep
            self.record.status = "kept" if keep else "stopping"
            self.record.save()
        finally:
            try:
                await (self.runtime.detach() if keep else self.runtime.stop_all())
                if not keep:  # every process stopped: nothing left for `meshsim down`
                    self.record.delete()
            finally:
                await self._stop_collector()

    async def _stop_collector(self) -> None:
        if self.collector is not None:
            await self.collector.stop()
            self.trace_keeping = self.collector.summary()
            self.collector = None
