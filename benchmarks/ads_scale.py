"""ADS at scale: a mesh of N instances at the machine's own inotify limit.

For each size (default 50 and 100: product v1 and v2 with N/2 - 2 replicas
each, plus user, order and shipping), in this process:

- **ready**: `Mesh.start()` to ready as `meshsim up` means it (every Envoy
  LIVE, every app healthy, a first POST /orders through the ingress), with
  `fs.inotify.max_user_instances` and the inotify instances in use for this
  user read before the start and while the mesh runs (Envoys over ADS watch no
  file; the figure shows whether anything else does);
- **push ACK**: PUSHES policy changes, each a VirtualService on `user` whose
  fault status changes, so every proxy (all sidecars and the ingress) gets new
  routes; `ControlPlane.push()` returns when every proxy has ACKed the new
  clusters, routes and listeners. Median and max of the pushes;
- **control plane cost**: this process's CPU seconds during the start and per
  push, and its RSS growth from before the ADS server started to ready, each
  divided by the number of proxies.

    python benchmarks/ads_scale.py [--sizes 50,100] [--pushes 10] [--json out.json]

A quick check for CI: `--sizes 24 --pushes 3` (24 instances already exceed
what file-watched config fitted in a default limit of 128 with others' use).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import psutil

import meshsim.mesh
from meshsim.control.plan import build_plan
from meshsim.mesh import Mesh
from meshsim.runtime.limits import inotify_in_use, inotify_limit
from meshsim.scenario.istio import parse_resource


def services(size: int) -> dict[str, dict[str, int]]:
    half = (size - 3) // 2
    return {
        "user": {"v1": 1},
        "product": {"v1": half, "v2": size - 3 - half},
        "order": {"v1": 1},
        "shipping": {"v1": 1},
    }


def fault(status: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "user"},
        "spec": {
            "hosts": ["user"],
            "http": [
                {
                    "fault": {"abort": {"httpStatus": status, "percentage": {"value": 1}}},
                    "route": [{"destination": {"host": "user"}}],
                }
            ],
        },
    }


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def one(size: int, pushes: int) -> dict[str, Any]:
    me = psutil.Process()
    plan = build_plan(services(size), ingress_port=0)
    limit, used_before = inotify_limit(), inotify_in_use()
    with tempfile.TemporaryDirectory(prefix="ads-scale-") as tmp:
        mesh = Mesh(plan, Path(tmp) / "run")
        rss0, cpu0 = me.memory_info().rss, cpu_s(me)
        try:
            ready_s = await mesh.start()
            cpu_start = cpu_s(me) - cpu0
            rss_ready = me.memory_info().rss
            used_running = inotify_in_use()
            acks = []
            cpu1 = cpu_s(me)
            for k in range(pushes):
                mesh.control.state.apply([parse_resource(fault(500 + k))])
                acks.append((await mesh.control.push(timeout=30)).took_s * 1000)
            cpu_push = (cpu_s(me) - cpu1) / pushes
        finally:
            await mesh.stop()
    proxies = len(plan.proxies)
    return {
        "instances": size,
        "proxies": proxies,
        "inotify_limit": limit,
        "inotify_in_use_before": used_before,
        "inotify_in_use_running": used_running,
        "ready_s": round(ready_s, 2),
        "push_ack_ms": {
            "median": round(statistics.median(acks), 1),
            "max": round(max(acks), 1),
            "all": [round(a, 1) for a in acks],
        },
        "control_plane": {
            "cpu_s_start": round(cpu_start, 2),
            "cpu_ms_start_per_proxy": round(cpu_start / proxies * 1000, 1),
            "cpu_ms_per_push_per_proxy": round(cpu_push / proxies * 1000, 2),
            "rss_mb_growth": round((rss_ready - rss0) / 2**20, 1),
            "rss_kb_per_proxy": round((rss_ready - rss0) / 1024 / proxies, 1),
        },
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,100")
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # 100 instances on 2 shared cores may need more than `meshsim up`'s 30 s.
    meshsim.mesh.READY_TIMEOUT_S = 180.0
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = await one(size, args.pushes)
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.json:
        args.json.write_text(json.dumps({"load_avg": os.getloadavg(), "runs": results}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
