"""Start-up time to ready, and policy push time, Docker runtime against local,
for the default shop.

"Ready" is what `meshsim up` waits for before it starts the load: every Envoy
LIVE, every app answering /healthz, and a first POST /orders served through
the ingress. Each run is `Mesh.start()` in this process, timed from the call,
with the time of each step the mesh reports (preparing the runtime, writing
configuration, starting containers, every sidecar LIVE), then `Mesh.stop()`
(also timed: Docker's teardown is part of what a user waits for).

Once ready, each run also pushes PUSHES policy changes (a VirtualService whose
fault status changes each time, so every sidecar gets new routes) and records
how long the control plane waited for every Envoy to take each one.

The images are built (or found current) once before the first Docker run and
every run uses them, so the figures are for a warm start; the build itself is
timed separately.

    python benchmarks/docker_startup.py --repeats 5 [--base-image meshsim-base:bookworm]

Prints a Markdown table and writes the raw runs as JSON next to this file
(docker_startup.json). Runs the two runtimes in turns, so that background load
on the machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import meshsim.runtime.images
from meshsim.control.plan import build_plan
from meshsim.events import RunEventHandler
from meshsim.mesh import Mesh
from meshsim.scenario.istio import parse_resource

SHOP = {"user": {"v1": 1}, "product": {"v1": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}
PUSHES = 10


def _fault(status: int) -> dict[str, Any]:
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


class Steps(RunEventHandler):
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.marks: dict[str, float] = {}

    def step(self, message: str) -> None:
        key = " ".join(message.split(" ")[:3])
        self.marks.setdefault(key, round(time.perf_counter() - self.t0, 3))


async def one(runtime: str, root: Path) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{runtime}-", dir=root))
    mesh = Mesh(build_plan(SHOP, 0), run_dir, runtime=runtime)
    steps = Steps()
    pushes = []
    try:
        ready = await mesh.start(steps)
        for k in range(PUSHES):
            mesh.control.state.apply([parse_resource(_fault(500 + k))])
            pushes.append((await mesh.control.push()).took_s * 1000)
    finally:
        t = time.perf_counter()
        await mesh.stop()
        stop = time.perf_counter() - t
    return {
        "runtime": runtime,
        "ready_s": round(ready, 3),
        "stop_s": round(stop, 3),
        "push_ms": round(statistics.median(pushes), 1),
        **steps.marks,
    }


def _stats(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base-image", default=None)
    args = parser.parse_args()
    from meshsim.runtime.engine import connect
    from meshsim.runtime.images import ensure_images

    client = connect()
    t = time.perf_counter()
    images = ensure_images(client, args.base_image)
    build_s = time.perf_counter() - t
    # Every run uses these images, even if meshsim's files change meanwhile (a
    # change would otherwise rebuild them inside a run and time the build).
    meshsim.runtime.images.ensure_images = lambda *_a, **_k: images
    root = Path(tempfile.mkdtemp(prefix="meshsim-bench-"))
    os.environ.setdefault("MESHSIM_HOME", str(root / "home"))
    runs = []
    load_before = os.getloadavg()
    for _ in range(args.repeats):
        for runtime in ("local", "docker"):
            runs.append(await one(runtime, root))
            print(json.dumps(runs[-1]))
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "engine": client.info().get("ServerVersion"),
        "storage_driver": client.info().get("Driver"),
        "images": [images.app, images.sidecar],
        "images_built": images.built,
        "images_s": round(build_s, 2),
        "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "runs": runs,
    }
    Path(__file__).with_name("docker_startup.json").write_text(json.dumps(out, indent=1))
    print(f"\nimages: {'built' if images.built else 'current'} in {build_s:.1f}s")
    print(f"load average (1 min) before/after: {out['loadavg_1m_before_after']}\n")
    print("| runtime | ready (s) | policy push (ms, median of each run) | stop (s) | runs |")
    print("|---|---|---|---|---|")
    # A run that had to rebuild the images (meshsim's files changed meanwhile)
    # measures the build, not the start: left out of the table, kept in the JSON.
    warm = [r for r in runs if not any(k.startswith("building the") for k in r)]
    for runtime in ("local", "docker"):
        mine = [r for r in warm if r["runtime"] == runtime]
        ready = [r["ready_s"] for r in mine]
        push = [r["push_ms"] for r in mine]
        stop = [r["stop_s"] for r in mine]
        print(f"| {runtime} | {_stats(ready)} | {_stats(push)} | {_stats(stop)} | {len(mine)} |")
    docker = [r for r in warm if r["runtime"] == "docker"]
    if docker:
        print("\nDocker steps (s from the call, median):")
        for key in docker[0]:
            if key not in ("runtime", "ready_s", "stop_s", "push_ms", "building the meshsim"):
                print(f"- {key}: {statistics.median(r.get(key, 0) for r in docker):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
