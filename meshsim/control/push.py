"""Pushes configuration to running Envoys and waits until each has taken it.

A live change goes clusters → routes → listeners, and each step waits for
Envoy's own counters (`update_success` / `update_rejected`) to move before
the next, so a route never points at a cluster its Envoy does not know yet.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from meshsim.control.admin import EnvoyAdmin
from meshsim.control.observe import Observability, bootstrap_fields
from meshsim.control.plan import MeshPlan
from meshsim.control.state import PolicyState
from meshsim.control.translate import ProxyConfig, compile_mesh
from meshsim.control.writer import ConfigWriter
from meshsim.errors import MeshError
from meshsim.rundir import RunDir

_UPDATE_STATS = (
    r"(cluster_manager\.cds|listener_manager\.lds|rds\.[a-z_]+)\.update_(success|rejected)$"
)


@dataclass
class PushResult:
    took_s: float
    changed: list[str] = field(default_factory=list)  # proxies that got new config
    warnings: list[str] = field(default_factory=list)


def _counter(stats: dict[str, int], kind: str, outcome: str) -> int:
    if kind == "cds":
        return stats.get(f"cluster_manager.cds.update_{outcome}", 0)
    if kind == "lds":
        return stats.get(f"listener_manager.lds.update_{outcome}", 0)
    # rds_<name>: summed over every HCM stat prefix using that route config
    suffix = f".rds.{kind.removeprefix('rds_')}.update_{outcome}"
    return sum(v for k, v in stats.items() if k.endswith(suffix))


class ControlPlane:
    """The live side of the control plane for one mesh."""

    def __init__(
        self, plan: MeshPlan, writer: ConfigWriter, state: PolicyState | None = None
    ) -> None:
        self.plan = plan
        self.writer = writer
        self.state = state or PolicyState.initial(plan.app)
        self.configs: dict[str, ProxyConfig] = {}
        # Tracing and access logs (meshsim.control.observe); None: off. Set before write_initial.
        self.observability: Observability | None = None
        self._session: aiohttp.ClientSession | None = None

    def admin_port(self, proxy: str) -> int:
        """The port on 127.0.0.1 where this process reaches `proxy`'s admin API
        (published by the Docker runtime, the admin port itself locally)."""
        return self.plan.admin_address(proxy)[1]

    def compile(self) -> dict[str, ProxyConfig]:
        return compile_mesh(
            self.plan, self.state, self.writer.paths, observability=self.observability
        )

    def write_initial(self) -> dict[str, ProxyConfig]:
        """Write every proxy's files and bootstrap before any Envoy starts."""
        self.configs = self.compile()
        for name, cfg in self.configs.items():
            self.writer.write_all(cfg)
            if name == self.plan.ingress.name:
                service, host, port = name, self.plan.ingress.host, self.plan.ingress.admin_port
            else:
                inst = self.plan.instance(name)
                service, host, port = inst.service, inst.host, inst.admin_port
            extra = bootstrap_fields(self.observability) if self.observability else None
            self.writer.write_bootstrap(name, port, service, admin_host=host, extra=extra)
        return self.configs

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def admin(self, proxy: str, session: aiohttp.ClientSession) -> EnvoyAdmin:
        host, port = self.plan.admin_address(proxy)
        return EnvoyAdmin(session, port, host)

    async def push(self, timeout: float = 5.0) -> PushResult:
        """Compile the policies in force and deliver what changed, in order."""
        start = time.perf_counter()
        new = self.compile()
        session = await self.session()
        changed: set[str] = set()
        # clusters first, then routes, then listeners
        steps: list[tuple[str, list[tuple[str, str]]]] = [("cds", []), ("rds", []), ("lds", [])]
        # every proxy at once: under load, one admin call after another costs
        # most of a policy change's time to take effect
        polled = await asyncio.gather(*(self._counters(session, p) for p in new))
        before = dict(zip(new, polled, strict=True))
        for kind, pending in steps:
            for name, cfg in new.items():
                if kind == "cds" and self.writer.write_clusters(cfg):
                    pending.append((name, "cds"))
                elif kind == "rds":
                    pending.extend((name, f"rds_{r}") for r in self.writer.write_routes(cfg))
                elif kind == "lds" and self.writer.write_listeners(cfg):
                    pending.append((name, "lds"))
            await self._wait_applied(session, pending, before, timeout)
            changed.update(n for n, _ in pending)
        self.configs = new
        warnings = sorted({w for cfg in new.values() for w in cfg.warnings})
        return PushResult(time.perf_counter() - start, sorted(changed), warnings)

    async def _counters(self, session: aiohttp.ClientSession, proxy: str) -> dict[str, int]:
        try:
            return await self.admin(proxy, session).stats(_UPDATE_STATS)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return {}

    async def _wait_applied(
        self,
        session: aiohttp.ClientSession,
        pending: list[tuple[str, str]],
        before: dict[str, dict[str, int]],
        timeout: float,
    ) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(pending)
        while waiting:
            still = []
            proxies = sorted({p for p, _ in waiting})
            polled = await asyncio.gather(*(self._counters(session, p) for p in proxies))
            latest = dict(zip(proxies, polled, strict=True))
            for proxy, kind in waiting:
                now = latest[proxy]
                if _counter(now, kind, "rejected") > _counter(before[proxy], kind, "rejected"):
                    raise MeshError(
                        f"Envoy rejected the new {kind} configuration",
                        component=f"{proxy} sidecar",
                        log=RunDir(self.writer.root.parent).envoy_log(proxy),
                    )
                if _counter(now, kind, "success") <= _counter(before[proxy], kind, "success"):
                    still.append((proxy, kind))
            waiting = still
            if waiting:
                if time.monotonic() > deadline:
                    names = ", ".join(f"{p} ({k})" for p, k in waiting)
                    raise MeshError(
                        f"configuration not taken within {timeout:.0f}s by {names}",
                        component="control plane",
                    )
                await asyncio.sleep(0.01)
