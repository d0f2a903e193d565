"""Memory per app instance and per sidecar, idle and under load.

RSS is the figure the targets and Istio's published numbers use. It counts
pages shared with other processes in full: for Envoy that is mostly its own
binary's code and read-only data (~55 MB of file-backed pages, shared by
every Envoy on the machine). USS (pages only this process holds) is what one
more sidecar really adds; PSS splits the shared pages between their users.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from meshsim.bench.context import BenchContext
from meshsim.bench.generator import Segment
from meshsim.mesh import Mesh

MB = 1024 * 1024
KINDS = ("app", "sidecar", "ingress")


@dataclass
class ProcessMemory:
    name: str
    kind: str  # app | sidecar | ingress
    rss_mb: float
    uss_mb: float | None = None
    pss_mb: float | None = None
    anon_mb: float | None = None  # RSS that is not file-backed


@dataclass
class MemorySnapshot:
    when: str  # idle | load
    processes: list[ProcessMemory]
    load_rps: float | None = None

    def of_kind(self, kind: str) -> list[ProcessMemory]:
        return [p for p in self.processes if p.kind == kind]

    def summary(self) -> dict[str, dict[str, float]]:
        """kind → mean/max RSS (and mean USS, PSS), in MB."""
        out: dict[str, dict[str, float]] = {}
        for kind in KINDS:
            procs = self.of_kind(kind)
            if not procs:
                continue
            row = {
                "count": float(len(procs)),
                "rss_mean": round(statistics.fmean(p.rss_mb for p in procs), 1),
                "rss_max": round(max(p.rss_mb for p in procs), 1),
            }
            for attr in ("uss_mb", "pss_mb", "anon_mb"):
                values = [v for p in procs if (v := getattr(p, attr)) is not None]
                if values:
                    row[attr.replace("_mb", "_mean")] = round(statistics.fmean(values), 1)
            out[kind] = row
        return out


@dataclass
class MemoryResult:
    idle: MemorySnapshot
    load: MemorySnapshot
    summary: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def _anon_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("RssAnon:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def _mb(info: Any, field: str) -> float | None:
    value = getattr(info, field, None)
    return None if value is None else round(value / MB, 1)


def process_memory(p: psutil.Process, name: str, kind: str, detailed: bool) -> ProcessMemory:
    """One process's memory. psutil's fields differ by OS: Linux has rss, uss,
    pss (and /proc's RssAnon); macOS rss and uss; so what is missing is None
    (the summary leaves it out) rather than an AttributeError."""
    if not detailed:
        return ProcessMemory(name, kind, round(p.memory_info().rss / MB, 1))
    full: Any
    try:
        full = p.memory_full_info()
    except psutil.AccessDenied:  # macOS needs root for USS of some processes
        full = p.memory_info()
    return ProcessMemory(
        name, kind, round(full.rss / MB, 1), _mb(full, "uss"), _mb(full, "pss"), _anon_mb(p.pid)
    )


def snapshot(mesh: Mesh, when: str, detailed: bool = True) -> MemorySnapshot:
    """RSS (and with `detailed`, USS/PSS from smaps) of every app, sidecar and the ingress."""
    procs = []
    for comp in mesh.runtime.components():
        if comp.pid is None or comp.state != "running":
            continue
        try:
            p = psutil.Process(comp.pid)
            procs.append(process_memory(p, comp.name, comp.kind, detailed))
        except psutil.Error:
            continue
    return MemorySnapshot(when, procs)


def peak(snapshots: list[MemorySnapshot], when: str) -> MemorySnapshot:
    """Per process, the snapshot with the highest RSS."""
    best: dict[str, ProcessMemory] = {}
    for snap in snapshots:
        for p in snap.processes:
            if p.name not in best or p.rss_mb > best[p.name].rss_mb:
                best[p.name] = p
    return MemorySnapshot(when, list(best.values()))


async def measure_memory(ctx: BenchContext, idle: MemorySnapshot) -> MemoryResult:
    """Under load: POST /orders through the ingress at a fixed rate; RSS sampled
    every 0.25 s, USS/PSS once at the end of the window, peak RSS kept."""
    c = ctx.config
    mesh = ctx.need_mesh()
    ctx.progress(f"memory under load: POST /orders at {c.memory_load_rate:g} rps")
    from meshsim.bench.chain import order_target

    seg = Segment(
        order_target(mesh.ingress_url),
        c.memory_load_rate,
        c.memory_load_s,
        warmup_s=c.warmup_s,
        timeout_s=c.chain_timeout_s,
    )
    samples: list[MemorySnapshot] = []
    task = asyncio.ensure_future(ctx.generator.run(seg))
    while not task.done():
        samples.append(snapshot(mesh, "load", detailed=False))
        done, _ = await asyncio.wait({task}, timeout=0.25)
        if done:
            break
        if len(samples) == max(1, int((c.warmup_s + c.memory_load_s) / 0.25) - 2):
            samples.append(snapshot(mesh, "load", detailed=True))
    result = await task
    detailed = [s for s in samples if any(p.uss_mb is not None for p in s.processes)]
    load = peak(samples, "load")
    if detailed:
        extra = {p.name: p for p in detailed[-1].processes}
        for p in load.processes:
            d = extra.get(p.name)
            if d is not None:
                p.uss_mb, p.pss_mb, p.anon_mb = d.uss_mb, d.pss_mb, d.anon_mb
    load.load_rps = round(result.achieved_rps, 1)
    return MemoryResult(idle, load, {"idle": idle.summary(), "load": load.summary()})
