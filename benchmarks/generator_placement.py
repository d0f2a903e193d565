"""Does the load generator need a process of its own? Measure it.

`meshsim bench` runs the control plane (compiling, writing and pushing
configuration, polling each Envoy's admin API until it takes a change) and
samples memory while the generator sends. This script sends the same
constant-rate stream to an app directly, from a generator on the bench
process's own event loop and from the worker process meshsim uses, taking
turns, first with the bench process idle and then while it pushes a route
change every 200 ms and snapshots every process's memory every 250 ms (what
the propagation and memory sections do).

    python benchmarks/generator_placement.py [--rounds 4] [--seconds 3] [--rate 200]

Results belong in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshsim.bench.config import BENCH_SHOP  # noqa: E402
from meshsim.bench.generator import Segment, SegmentResult, Target, new_histogram  # noqa: E402
from meshsim.bench.memory import snapshot  # noqa: E402
from meshsim.bench.propagation import route_to  # noqa: E402
from meshsim.bench.worker import GeneratorProcess, InProcessGenerator  # noqa: E402
from meshsim.control.plan import build_plan  # noqa: E402
from meshsim.mesh import Mesh  # noqa: E402
from meshsim.scenario.istio import parse_resource  # noqa: E402


async def housekeeping(mesh: Mesh, stop: asyncio.Event) -> None:
    """What the bench process does during the propagation and memory sections."""
    version = "v1"
    tick = 0
    while not stop.is_set():
        if tick % 4 == 0:
            version = "v2" if version == "v1" else "v1"
            mesh.control.state.apply([parse_resource(r) for r in route_to(version)])
            await mesh.control.push()
        snapshot(mesh, "load", detailed=False)
        tick += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


def pooled(results: list[SegmentResult]) -> list[float]:
    h = new_histogram()
    for r in results:
        h.add(r.latency)
    return [h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)]


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("MESHSIM_HOME", tempfile.mkdtemp(prefix="meshsim-home-"))
    run_dir = Path(tempfile.mkdtemp(prefix="meshsim-placement-"))
    mesh = Mesh(build_plan(BENCH_SHOP, 0), run_dir / "mesh", scenario="bench-placement")
    await mesh.start()
    app = mesh.plan.select("product:v1")[0]
    target = Target(f"http://{app.host}:{app.app_port}/products/1")
    worker = GeneratorProcess(run_dir / "generator.log")
    await worker.start()
    gens = {"in-process": InProcessGenerator(), "own process": worker}
    try:
        for busy in (False, True):
            results: dict[str, list[SegmentResult]] = {name: [] for name in gens}
            for r in range(args.rounds):
                order = list(gens) if r % 2 == 0 else list(reversed(gens))
                for name in order:
                    stop = asyncio.Event()
                    task = asyncio.ensure_future(housekeeping(mesh, stop)) if busy else None
                    seg = Segment(target, args.rate, args.seconds, warmup_s=0.5)
                    results[name].append(await gens[name].run(seg))
                    stop.set()
                    if task is not None:
                        await task
            print(f"\nbench process {'busy (pushes + memory sampling)' if busy else 'idle'}:")
            print("| generator | p50 ms | p90 ms | p99 ms | p99.9 ms | lag p99 ms |")
            print("|---|---:|---:|---:|---:|---:|")
            for name, rs in results.items():
                lag = new_histogram()
                for res in rs:
                    lag.add(res.lag)
                p = pooled(rs)
                print(
                    f"| {name} | {p[0]:.3f} | {p[1]:.3f} | {p[2]:.3f} | {p[3]:.3f} "
                    f"| {lag.get_value_at_percentile(99) / 1000:.3f} |",
                    flush=True,
                )
    finally:
        await worker.close()
        await mesh.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rate", type=float, default=200.0)
    args = p.parse_args()
    from meshsim.bench.generator import new_loop

    loop = new_loop()  # the precise loop, for the in-process generator too
    try:
        loop.run_until_complete(main(args))
    finally:
        loop.close()
