"""What every section of `meshsim bench` shares: the configuration, the load
generator, the bench mesh and its no-sidecar twin, and a progress callback."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from meshsim.bench.config import BenchConfig
from meshsim.bench.direct import DirectShop
from meshsim.bench.generator import Segment, SegmentResult
from meshsim.bench.worker import Generator
from meshsim.control.push import PushResult
from meshsim.mesh import Mesh
from meshsim.scenario.istio import parse_resource


def _quiet(message: str) -> None:
    return None


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


@dataclass
class BenchContext:
    config: BenchConfig
    generator: Generator
    mesh: Mesh | None = None
    direct: DirectShop | None = None
    progress: Callable[[str], None] = _quiet

    def need_mesh(self) -> Mesh:
        if self.mesh is None:
            raise RuntimeError("this section needs the bench mesh")
        return self.mesh

    def need_direct(self) -> DirectShop:
        if self.direct is None:
            raise RuntimeError("this section needs the no-sidecar shop")
        return self.direct

    def our_pids(self) -> list[int]:
        """Every process the bench started, and itself (to tell its CPU from others')."""
        pids = [os.getpid()]
        gen_pid = getattr(self.generator, "pid", None)
        if isinstance(gen_pid, int):
            pids.append(gen_pid)
        if self.mesh is not None:
            pids += [c.pid for c in self.mesh.runtime.components() if c.pid is not None]
        if self.direct is not None:
            pids += list(self.direct.pids().values())
        return pids

    async def run(self, seg: Segment) -> tuple[SegmentResult, float]:
        """Run a segment; also returns the cores that processes not ours used meanwhile."""
        pids = self.our_pids()
        ours0, busy0, t0 = _cpu_seconds(pids), _busy_seconds(), time.monotonic()
        res = await self.generator.run(seg)
        ours1, busy1, t1 = _cpu_seconds(pids), _busy_seconds(), time.monotonic()
        other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / max(t1 - t0, 1e-6)
        return res, round(other, 2)

    async def apply(
        self, resources: list[dict[str, Any]], remove: list[str] | None = None
    ) -> PushResult:
        """Put Istio resources in force on the bench mesh (and withdraw `remove`)."""
        mesh = self.need_mesh()
        mesh.control.state.apply([parse_resource(r) for r in resources])
        mesh.control.state.remove(remove or [])
        return await mesh.control.push()
