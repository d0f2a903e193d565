"""Snapshots every proxy's Envoy stats at phase boundaries and writes edges.json.

The runner calls `begin()` before the first phase and `phase_done(name)` after
each; the deltas between two snapshots become that phase's edges
(`meshsim.telemetry.edges`). edges.json is rewritten after every phase, so a
run cut short keeps the phases it finished.

A phase with a `settle` gets one more snapshot, `settled(name)`, at its settle
point: the deltas from there to the phase's end are its settled edges (what
its expectations judge), kept beside the phase's own::

    {"phases": {"crash": [...]}, "settled": {"crash": [...]}, "policies": ..., "warnings": ...}

With a `MetricsScraper` (telemetry on), each boundary also scrapes
`/stats/prometheus` (a `mark`ed line of metrics.jsonl) and the latency
histograms' deltas give each edge its percentiles; the time between two
boundaries gives its `rps`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from meshsim.control.admin import EnvoyAdmin
from meshsim.control.envoy import stat_name
from meshsim.control.plan import MeshPlan
from meshsim.control.writer import atomic_write
from meshsim.control.xds import ProxyConfig
from meshsim.telemetry.edges import EdgeContext, ProxyView, build_edges, proxy_view
from meshsim.telemetry.envoy_stats import (
    STATS_FILTER,
    cluster_deltas,
    fault_deltas,
    no_cluster_deltas,
)
from meshsim.telemetry.metrics import MetricsScraper, Scrape
from meshsim.telemetry.prometheus import Buckets

Snapshot = dict[str, dict[str, int]]  # proxy → stat name → value


def edge_context(plan: MeshPlan, configs: dict[str, ProxyConfig]) -> EdgeContext:
    """What the edges need from the plan and the configuration in force."""
    proxies: dict[str, ProxyView] = {}
    ingress = configs.get(plan.ingress.name)
    if ingress is not None:
        proxies[plan.ingress.name] = proxy_view(
            plan.ingress.name,
            plan.ingress.name,
            None,
            ingress.routes.values(),
            [c["name"] for c in ingress.clusters],
        )
    for inst in plan.instances:
        cfg = configs.get(inst.name)
        routes = [rc for name, rc in cfg.routes.items() if name != "inbound"] if cfg else []
        names = [c["name"] for c in cfg.clusters] if cfg else None
        proxies[inst.name] = proxy_view(inst.name, inst.service, inst.version, routes, names)
    by_address = {(i.host, i.inbound_port): i.version for i in plan.instances}
    versions: dict[str, str | None] = {}
    any_config = ingress or next(iter(configs.values()), None)
    for cluster in any_config.clusters if any_config else []:
        if not cluster["name"].startswith("outbound|"):
            continue
        seen = {by_address.get(address) for address in _endpoints(cluster)}
        versions[stat_name(cluster["name"])] = seen.pop() if len(seen) == 1 else None
    return EdgeContext(proxies, versions)


def _endpoints(cluster: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    for group in cluster.get("load_assignment", {}).get("endpoints", []):
        for lb in group.get("lb_endpoints", []):
            sock = lb["endpoint"]["address"]["socket_address"]
            out.append((sock["address"], sock["port_value"]))
    return out


class EdgeRecorder:
    """Turns Envoy stats at phase boundaries into edges.json."""

    def __init__(
        self,
        plan: MeshPlan,
        admin_port: dict[str, int],
        path: Path,
        session: aiohttp.ClientSession,
        *,
        metrics: MetricsScraper | None = None,
    ) -> None:
        self.plan = plan
        self.metrics = metrics
        self.admin_port = admin_port
        self.path = path
        self.session = session
        self.phases: dict[str, list[dict[str, Any]]] = {}
        self.settled_phases: dict[str, list[dict[str, Any]]] = {}  # settle point → phase end
        self.policies: dict[str, dict[str, Any]] = {}
        self.warnings: list[str] = []
        # where the running phase's edges count from: the last boundary
        self._start = _Mark("", {}, {}, time.monotonic(), {})
        self._settle: _Mark | None = None  # the running phase's settle point, once reached

    async def _one(self, proxy: str) -> tuple[str, dict[str, int] | None]:
        try:
            admin = EnvoyAdmin(self.session, self.admin_port[proxy])
            return proxy, await admin.stats(STATS_FILTER)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return proxy, None

    async def snapshot(self) -> Snapshot:
        results = await asyncio.gather(*(self._one(p) for p in self.admin_port))
        return {proxy: stats for proxy, stats in results if stats is not None}

    async def begin(self, configs: dict[str, ProxyConfig]) -> None:
        """The first snapshot, before the first phase; `configs` are in force now."""
        now, scraped = await asyncio.gather(self.snapshot(), self._scrape("begin"))
        self._start = _Mark("begin", now, scraped, time.monotonic(), configs)

    async def _scrape(self, mark: str | None = None, *, settled: str | None = None) -> Scrape:
        if self.metrics is None:
            return {}
        try:
            return await self.metrics.scrape(mark, settled=settled)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return {}

    def _latency(self, before: Scrape, now: Scrape) -> dict[str, dict[str, Buckets]] | None:
        if self.metrics is None:
            return None
        out: dict[str, dict[str, Buckets]] = {}
        for proxy, metrics in now.items():
            then = before.get(proxy)
            out[proxy] = {
                cluster: buckets.delta(then.latency.get(cluster) if then else None)
                for cluster, buckets in metrics.latency.items()
            }
        return out

    async def settled(self, phase: str, configs: dict[str, ProxyConfig]) -> None:
        """The running phase reached its settle point: the snapshot its settled
        edges start from (`phase_done` turns them into edges)."""
        now, scraped = await asyncio.gather(self.snapshot(), self._scrape(settled=phase))
        missing = sorted(set(self.admin_port) - set(now))
        if missing:
            self.warnings.append(
                f"phase {phase}: no stats from {', '.join(missing)} at the settle point; "
                "their calls are not counted in the settled edges"
            )
        self._settle = _Mark(
            phase, now, {**self._start.scrape, **scraped}, time.monotonic(), configs
        )

    async def phase_done(self, phase: str, configs: dict[str, ProxyConfig]) -> list[dict[str, Any]]:
        """Edges of the phase that just ended (and, if it reached its settle
        point, its settled edges); edges.json is rewritten."""
        now, scraped = await asyncio.gather(self.snapshot(), self._scrape(phase))
        now_t = time.monotonic()
        missing = sorted(set(self.admin_port) - (set(now) & set(self._start.snapshot)))
        if missing:
            self.warnings.append(
                f"phase {phase}: no stats from {', '.join(missing)}; their calls are not counted"
            )
        edges = self._edges(self._start, now, scraped, now_t, configs)
        self.phases[phase] = edges
        settle, self._settle = self._settle, None
        if settle is not None and settle.phase == phase:
            self.settled_phases[phase] = self._edges(settle, now, scraped, now_t, configs)
        self._start = _Mark(phase, now, {**self._start.scrape, **scraped}, now_t, configs)
        self.write()
        return edges

    def _edges(
        self,
        since: _Mark,
        now: Snapshot,
        scraped: Scrape,
        now_t: float,
        configs: dict[str, ProxyConfig],
    ) -> list[dict[str, Any]]:
        """The edges of the deltas from `since` to `now`, with `configs` in force now."""
        before = since.snapshot
        clusters = {p: cluster_deltas(before[p], now[p]) for p in now if p in before}
        faults = {p: fault_deltas(before[p], now[p]) for p in now if p in before}
        unrouted = {p: no_cluster_deltas(before[p], now[p]) for p in now if p in before}
        # A fault (or a route to no cluster) in force at `since` still counts
        # until its change took effect.
        context = edge_context(self.plan, configs)
        for name, view in edge_context(self.plan, since.configs).proxies.items():
            if name in context.proxies:
                merged = {**view.caller_faults, **context.proxies[name].caller_faults}
                context.proxies[name].caller_faults = merged
                context.proxies[name].unrouted |= view.unrouted
        return build_edges(
            context,
            clusters,
            faults,
            latency=self._latency(since.scrape, scraped),
            duration_s=round(now_t - since.t, 3),
            no_cluster=unrouted,
        )

    def policy(self, phase: str, **fields: Any) -> None:
        """Remember how a phase's policy change went (written with the edges)."""
        self.policies[phase] = fields
        self.write()

    def write(self) -> None:
        data: dict[str, Any] = {"phases": self.phases}
        if self.settled_phases:
            data["settled"] = self.settled_phases
        data.update(policies=self.policies, warnings=self.warnings)
        atomic_write(self.path, json.dumps(data, indent=1))


@dataclass(frozen=True)
class _Mark:
    """A point edges are counted from: the stats then, and the configs in force."""

    phase: str  # the phase whose settle point or end it is ("begin": before the first)
    snapshot: Snapshot
    scrape: Scrape
    t: float  # time.monotonic()
    configs: dict[str, ProxyConfig]
