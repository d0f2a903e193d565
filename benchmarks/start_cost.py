"""Where the CPU goes while a mesh starts: the whole process tree, by kind.

For each size (the shapes of `benchmarks/ads_scale.py`: product v1 and v2
with N/2 - 2 replicas each, plus user, order and shipping; size 5 is the
default shop, one instance of each), `Mesh.start()` to ready (every Envoy
LIVE, every app healthy, a first POST /orders through the ingress), then at
ready the CPU seconds (user + system) of every process in this process's
tree, summed by kind:

- `meshsim`: this process (control plane, certificates, readiness polling);
- `envoy`: every sidecar and the ingress;
- `apps`: the sample services' processes (exec'ed, or forked from the fork server);
- `fork_server`: the local runtime's fork server (imports the shop's modules once).

CPU seconds are less noisy than the wall clock on a shared machine: what the
start costs, not how long it waited for a core. Before/after comparisons run
the other tree with `PYTHONPATH=/path/to/other/tree` from outside both trees.

    python benchmarks/start_cost.py [--sizes 5,50,100] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

# the same meshes as ads_scale.py (5: the default shop), run from this directory
from ads_scale import services

import meshsim.mesh
from meshsim.control.plan import build_plan
from meshsim.events import RunEventHandler
from meshsim.mesh import Mesh


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def kind(proc: psutil.Process, forkers: set[int]) -> str:
    cmd = " ".join(proc.cmdline())
    if "envoy" in proc.name():
        return "envoy"
    if "local_forkserver" in cmd and proc.ppid() not in forkers:
        return "fork_server"
    if proc.ppid() in forkers or "sample_services" in cmd:
        return "apps"
    return "other"


def tree_cpu(me: psutil.Process) -> dict[str, float]:
    procs = me.children(recursive=True)
    forkers = {p.pid for p in procs if "local_forkserver" in " ".join(p.cmdline())}
    # a forked app's command line is the server's: its parent tells them apart
    forkers = {pid for pid in forkers if psutil.Process(pid).ppid() == me.pid}
    out: dict[str, float] = {"meshsim": cpu_s(me)}
    for p in procs:
        try:
            k = kind(p, forkers)
            out[k] = out.get(k, 0.0) + cpu_s(p)
        except psutil.Error:
            pass
    return out


class Steps(RunEventHandler):
    """When each of `Mesh.start()`'s steps began, in seconds from the call."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.at: dict[str, float] = {}

    def step(self, message: str) -> None:
        self.at[" ".join(message.split()[:3])] = round(time.perf_counter() - self.t0, 2)


async def one(size: int) -> dict[str, Any]:
    me = psutil.Process()
    plan = build_plan(services(size), ingress_port=0)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="start-cost-") as tmp:
        cpu0 = cpu_s(me)
        mesh = Mesh(plan, Path(tmp) / "run")
        try:
            steps = Steps()
            ready_s = await mesh.start(steps)
            by_kind = tree_cpu(me)
            by_kind["meshsim"] -= cpu0
        finally:
            await mesh.stop()
    return {
        "instances": len(plan.instances),
        "load_avg_1m": round(load, 1),
        "ready_s": round(ready_s, 2),
        "steps_s": steps.at,
        "cpu_s_tree": round(sum(by_kind.values()), 2),
        "cpu_s": {k: round(v, 2) for k, v in sorted(by_kind.items())},
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5,50,100")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    meshsim.mesh.READY_TIMEOUT_S = 180.0
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = await one(size)
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
