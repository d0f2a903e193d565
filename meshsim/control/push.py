"""Pushes configuration to running Envoys over ADS and waits until each has taken it.

The proxies' resources live in the ADS server (meshsim.control.ads); a live
change goes clusters → routes → listeners, and each step waits for every
proxy it changed to ACK before the next, so a route never points at a
cluster its Envoy does not know yet (Envoy's "make before break" order). A
NACK stops the push with Envoy's own message: exit 3, naming the proxy and
the resources.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from meshsim.control.admin import EnvoyAdmin
from meshsim.control.ads import AdsServer, XdsRejected
from meshsim.control.encode import Encoded
from meshsim.control.observe import Observability, bootstrap_fields
from meshsim.control.plan import MeshPlan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.writer import ConfigWriter
from meshsim.control.xds import ProxyConfig
from meshsim.control.xds_proto import SHORT, T_CLUSTER, T_LISTENER, T_ROUTE, ResourceError
from meshsim.control.xds_record import StreamRecorder
from meshsim.errors import MeshError
from meshsim.rundir import RunDir


class PushRejected(MeshError):
    """A proxy NACKed a push: exit 3 naming the proxy, the resources and Envoy's message."""

    def __init__(self, rejected: XdsRejected, log: Path) -> None:
        self.proxy = rejected.proxy
        self.kind = SHORT[rejected.type_url]
        self.resources = rejected.names
        self.envoy_message = rejected.message
        super().__init__(
            f"Envoy rejected {self.kind} version {rejected.version} "
            f"({', '.join(self.resources)}): {self.envoy_message}",
            component=f"{self.proxy} sidecar",
            log=log,
        )


@dataclass
class PushResult:
    took_s: float
    changed: list[str] = field(default_factory=list)  # proxies that got new config
    warnings: list[str] = field(default_factory=list)


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in items}


def _named(name: str, rc: dict[str, Any]) -> dict[str, Any]:
    return rc if rc.get("name") == name else {**rc, "name": name}


# The order of a push, and what each step takes from a proxy's configuration.
STEPS: list[tuple[str, Callable[[ProxyConfig], dict[str, dict[str, Any]]]]] = [
    (T_CLUSTER, lambda cfg: _by_name(cfg.clusters)),
    # (a route configuration already named as its key is passed as is: the same
    # dict for every proxy that shares it, so it is encoded once)
    (T_ROUTE, lambda cfg: {n: _named(n, rc) for n, rc in cfg.routes.items()}),
    (T_LISTENER, lambda cfg: _by_name(cfg.listeners)),
]


class ControlPlane:
    """The live side of the control plane for one mesh: compiles the policies
    in force and serves the result to every proxy over ADS."""

    def __init__(
        self, plan: MeshPlan, writer: ConfigWriter, state: PolicyState | None = None
    ) -> None:
        self.plan = plan
        self.writer = writer
        self.state = state or PolicyState.initial(plan.app)
        self.configs: dict[str, ProxyConfig] = {}
        # Tracing and access logs (meshsim.control.observe); None: off. Set before write_initial.
        self.observability: Observability | None = None
        self.ads = AdsServer(plan.proxies, secret=secrets.token_bytes(32))
        self.recorder = StreamRecorder(self.ads, writer.root)
        self.ads_reach: tuple[str, int] | None = None  # the address the proxies dial
        self._session: aiohttp.ClientSession | None = None
        self._recording: asyncio.Future[None] | None = None  # write_initial's record files

    def admin_port(self, proxy: str) -> int:
        """The port on 127.0.0.1 where this process reaches `proxy`'s admin API
        (published by the Docker runtime, the admin port itself locally)."""
        return self.plan.admin_address(proxy)[1]

    def compile(self) -> dict[str, ProxyConfig]:
        return compile_mesh(
            self.plan, self.state, self.writer.paths, observability=self.observability
        )

    async def serve(self, bind: str, reach: str) -> int:
        """Start the ADS server on `bind`; the proxies dial `reach` (the same
        address locally, the host as containers see it under Docker)."""
        self.recorder.start()
        try:
            port = await self.ads.start(bind)
        except (OSError, RuntimeError) as exc:
            hint = (
                ""
                if bind == "127.0.0.1"
                else "; set MESHSIM_CONTROL_BIND (and MESHSIM_CONTROL_HOST, the address "
                "containers reach this host by), see docs/docker.md"
            )
            raise MeshError(
                f"cannot listen on {bind} for the proxies' ADS streams ({exc}){hint}",
                component="control plane",
            ) from exc
        self.ads_reach = (reach, port)
        return port

    def write_initial(self) -> dict[str, ProxyConfig]:
        """Compile every proxy's configuration into the ADS server and write
        its bootstrap (ADS only), before any Envoy starts."""
        if self.ads_reach is None:
            raise MeshError("the ADS server is not started", component="control plane")
        self.configs = self.compile()
        encoded = Encoded()
        for name, cfg in self.configs.items():
            for type_url, resources in STEPS:
                self._set(name, type_url, resources(cfg), encoded)
            if name == self.plan.ingress.name:
                service, host, port = name, self.plan.ingress.host, self.plan.ingress.admin_port
            else:
                inst = self.plan.instance(name)
                service, host, port = inst.service, inst.host, inst.admin_port
            extra = bootstrap_fields(self.observability) if self.observability else None
            self.writer.write_bootstrap(
                name,
                port,
                service,
                self.ads_reach,
                admin_host=host,
                extra=extra,
                token=self.ads.token(name),
            )
        # The record files for `meshsim config` (the bootstraps above are all an
        # Envoy reads): in a thread while the proxies start, one file per proxy
        # and type (~0.5 s of CPU at 100 proxies, seconds of wall on a busy
        # disk); `recorded()` waits for them, as every push does first.
        configs = list(self.configs.values())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._record(configs, encoded)
        else:
            self._recording = loop.run_in_executor(None, self._record, configs, encoded)
        return self.configs

    async def recorded(self) -> None:
        """Until the record files of `write_initial` are written."""
        if self._recording is not None:
            pending, self._recording = self._recording, None
            await pending

    def _set(
        self,
        proxy: str,
        type_url: str,
        resources: dict[str, dict[str, Any]],
        encoded: Encoded,
    ) -> bool:
        try:
            return self.ads.set_resources(proxy, type_url, resources, encoded)
        except ResourceError as exc:
            raise MeshError(
                f"compiled an invalid resource for {proxy}: {exc}", component="control plane"
            ) from exc

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def close(self) -> None:
        await self.recorded()
        await self.ads.stop()
        self.recorder.stop()
        if self._session is not None:
            await self._session.close()

    def admin(self, proxy: str, session: aiohttp.ClientSession) -> EnvoyAdmin:
        host, port = self.plan.admin_address(proxy)
        return EnvoyAdmin(session, port, host)

    async def push(self, timeout: float = 5.0) -> PushResult:
        """Compile the policies in force and deliver what changed, in order."""
        await self.recorded()  # the writer is not shared between threads
        start = time.perf_counter()
        new = self.compile()
        encoded = Encoded()  # each shared resource's JSON, once for this compile
        changed: set[str] = set()
        for type_url, resources in STEPS:
            touched = [
                name
                for name, cfg in new.items()
                if self._set(name, type_url, resources(cfg), encoded)
            ]
            sent = await asyncio.gather(*(self.ads.send(n, type_url) for n in touched))
            await self._wait(
                [(n, type_url) for n, ok in zip(touched, sent, strict=True) if ok], timeout
            )
            changed.update(touched)
        took = time.perf_counter() - start  # in force: every proxy acknowledged
        # The record for `meshsim config`, off the critical path and off the
        # event loop (file system calls release the GIL; the streams go on).
        await asyncio.to_thread(self._record, [new[name] for name in changed], encoded)
        self.configs = new
        warnings = sorted({w for cfg in new.values() for w in cfg.warnings})
        return PushResult(took, sorted(changed), warnings)

    def _record(self, configs: list[ProxyConfig], encoded: Encoded) -> None:
        for cfg in configs:
            self.writer.write_all(cfg, encoded)

    async def _wait(self, pending: list[tuple[str, str]], timeout: float) -> None:
        try:
            await self.ads.wait_acked(pending, timeout)
        except XdsRejected as exc:
            raise PushRejected(exc, RunDir(self.writer.root.parent).envoy_log(exc.proxy)) from exc
        except TimeoutError as exc:
            raise MeshError(
                f"configuration not taken within {timeout:.0f}s: {exc}", component="control plane"
            ) from exc
