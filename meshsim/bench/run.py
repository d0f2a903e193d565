"""`meshsim bench` from start to result: which sections run, in which order,
on which mesh, and everything stopped afterwards.

Order: start-up first (nothing else of ours running), then one bench mesh
(the shop plus product v2) and its no-sidecar twin serve memory (idle), the
per-hop overhead, policy propagation, memory under load and chain
throughput, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshsim.bench.chain import ChainResult, measure_chain
from meshsim.bench.config import BENCH_SHOP, BenchConfig
from meshsim.bench.context import BenchContext
from meshsim.bench.direct import DirectShop
from meshsim.bench.hop import HopResult, measure_hop
from meshsim.bench.memory import MemoryResult, measure_memory, snapshot
from meshsim.bench.propagation import PropagationResult, measure_propagation
from meshsim.bench.startup import StartupResult, measure_startup
from meshsim.bench.targets import TargetCheck, check_targets
from meshsim.bench.worker import Generator, GeneratorProcess
from meshsim.control.plan import build_plan
from meshsim.mesh import Mesh
from meshsim.rundir import RunDir
from meshsim.runtime.commands import envoy_version
from meshsim.runtime.limits import inotify_limit

IDLE_SETTLE_S = 1.0


@dataclass
class BenchResult:
    machine: dict[str, Any]
    config: dict[str, Any]
    started_at: str
    duration_s: float = 0.0
    startup: StartupResult | None = None
    memory: MemoryResult | None = None
    hop: HopResult | None = None
    propagation: PropagationResult | None = None
    chain: ChainResult | None = None
    targets: list[TargetCheck] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import aiohttp
    import psutil

    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "envoy": envoy_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "inotify_max_user_instances": inotify_limit(),
    }


def _config_dict(c: BenchConfig) -> dict[str, Any]:
    data = asdict(c)
    data["run_dir"] = str(c.run_dir)
    data["sections"] = list(c.sections)
    return data


async def run_bench(
    config: BenchConfig,
    progress: Callable[[str], None] | None = None,
    generator: Generator | None = None,
) -> BenchResult:
    """Run the selected sections; every process started is stopped before returning.

    >>> result = asyncio.run(run_bench(BenchConfig.quick_config()))  # doctest: +SKIP
    >>> result.hop.variant("mtls").added_ms["p99"]  # doctest: +SKIP
    0.41
    """
    t0 = time.monotonic()
    config.run_dir.mkdir(parents=True, exist_ok=True)
    result = BenchResult(
        machine(), _config_dict(config), datetime.now(UTC).isoformat(timespec="seconds")
    )
    own_generator = generator is None
    gen = generator or GeneratorProcess(RunDir(config.run_dir).generator_log)
    ctx = BenchContext(config, gen, progress=progress or (lambda _m: None))
    wanted = set(config.sections)
    try:
        if "startup" in wanted:
            result.startup = await measure_startup(ctx)
        if wanted & {"memory", "hop", "propagation", "chain"}:
            if isinstance(gen, GeneratorProcess):
                await gen.start()
            await _start_bench_mesh(ctx, need_direct="chain" in wanted)
            if "memory" in wanted:
                await asyncio.sleep(IDLE_SETTLE_S)
                idle = snapshot(ctx.need_mesh(), "idle")
            if "hop" in wanted:
                result.hop = await measure_hop(ctx)
            if "propagation" in wanted:
                result.propagation = await measure_propagation(ctx)
            if "memory" in wanted:
                result.memory = await measure_memory(ctx, idle)
            if "chain" in wanted:
                result.chain = await measure_chain(ctx)
    finally:
        ctx.progress("stopping the bench mesh")
        with contextlib.suppress(Exception):
            if own_generator:
                await gen.close()
        if ctx.direct is not None:
            await ctx.direct.stop()
        if ctx.mesh is not None:
            await ctx.mesh.stop()
    result.duration_s = round(time.monotonic() - t0, 1)
    result.machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result.targets = check_targets(result)
    return result


async def _start_bench_mesh(ctx: BenchContext, need_direct: bool) -> None:
    run_dir = ctx.config.run_dir
    ctx.progress("starting the bench mesh (the shop with product v1 and v2)")

    async def start() -> Mesh:
        mesh = Mesh(build_plan(BENCH_SHOP, 0), run_dir / "mesh", scenario="bench")
        ctx.mesh = mesh
        try:
            await mesh.start()
        except BaseException:
            ctx.mesh = None
            await mesh.stop()
            raise
        return mesh

    await start()
    if need_direct:
        ctx.progress("starting the same apps without sidecars")
        ctx.direct = DirectShop(BENCH_SHOP, run_dir / "no-sidecar")
        await ctx.direct.start()
