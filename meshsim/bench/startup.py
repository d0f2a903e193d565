"""Start-up: from command to ready, for the default shop, a large mesh, and a
small application of one's own (`meshsim.bench.ownapp`: three instances of
two standard-library services declared in a scenario).

"Ready" is what `meshsim up` waits for before it starts the load: every
Envoy LIVE, every app ready (the shop's /healthz), and a first request
served through the ingress (the shop's POST /orders; the own application's
GET /healthz of its exposed service). The clock starts before a fresh Python process is
spawned (`python -m meshsim.bench.startup`), so interpreter start-up and
imports count, as they do for a user typing the command. The child reports
when the mesh is ready, then stops it when told to.

The shapes take turns; each is started `startup_repeats` times.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from meshsim.bench.context import BenchContext
from meshsim.bench.stats import summary
from meshsim.errors import MeshError
from meshsim.rundir import RunDir

T = TypeVar("T")

# The own application's shape (meshsim.bench.ownapp): what its scenario runs.
OWN_SHAPE = "own services"
OWN_SERVICES = {"prices": {"v1": 1, "v2": 1}, "quotes": {"v1": 1}}


@dataclass
class StartupShape:
    name: str
    services: dict[str, dict[str, int]]
    instances: int
    runs_s: list[float]
    in_process_s: list[float]  # Mesh.start() alone, without interpreter start-up
    summary_s: dict[str, float]
    cpu_s: dict[str, float]  # CPU seconds until ready (mean of runs): meshsim, app, envoy


@dataclass
class StartupResult:
    shapes: list[StartupShape]

    def shape(self, name: str) -> StartupShape:
        return next(s for s in self.shapes if s.name == name)


async def start_once(
    services: dict[str, dict[str, int]], run_dir: Path, scenario: Path | None = None
) -> tuple[float, float, dict[str, float]]:
    """Seconds from spawning the command to ready, Mesh.start() alone, and the CPU
    seconds spent until ready (meshsim itself, the apps, the Envoys)."""
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "meshsim.bench.startup",
        json.dumps(services),
        str(run_dir),
        *([str(scenario)] if scenario is not None else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        line = await proc.stdout.readline()
        if not line:
            err = (await proc.stderr.read()).decode(errors="replace").strip()
            raise MeshError(
                f"the start-up probe failed: {err.splitlines()[-1] if err else 'no output'}",
                component="bench start-up",
                log=RunDir(run_dir).logs,
            )
        ready = json.loads(line)
        return ready["t_ready"] - t0, ready["start_s"], ready["cpu_s"]
    finally:
        if proc.returncode is None:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def measure_startup(ctx: BenchContext) -> StartupResult:
    from meshsim.bench.config import DEFAULT_SHOP, many_instances
    from meshsim.bench.ownapp import write_own_app

    c = ctx.config
    many = c.many_instances  # every Envoy on ADS: no inotify budget to fit in
    own = write_own_app(c.run_dir / "own-services")
    plan: list[tuple[str, dict[str, dict[str, int]], Path | None]] = [
        ("default shop", DEFAULT_SHOP, None),
        (f"{many} instances", many_instances(many), None),
        (OWN_SHAPE, OWN_SERVICES, own),
    ]
    runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {name: [] for name, *_ in plan}
    for r in range(c.startup_repeats):
        for name, services, scenario in plan if r % 2 == 0 else list(reversed(plan)):
            ctx.progress(f"start-up: {name}, run {r + 1}/{c.startup_repeats}")
            run_dir = c.run_dir / f"startup-{name.replace(' ', '-')}-{r}"
            runs[name].append(await start_once(services, run_dir, scenario))
    out = []
    for name, services, _ in plan:
        total = sum(sum(v.values()) for v in services.values())
        cmd = [round(a, 3) for a, _, _ in runs[name]]
        cpu: dict[str, float] = {}
        for _, _, used in runs[name]:
            for kind, sec in used.items():
                cpu[kind] = cpu.get(kind, 0.0) + sec / len(runs[name])
        out.append(
            StartupShape(
                name,
                services,
                total,
                cmd,
                [round(b, 3) for _, b, _ in runs[name]],
                summary(cmd),
                {k: round(v, 2) for k, v in cpu.items()},
            )
        )
    return StartupResult(out)


def _cpu_seconds(pid: int | None) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except (psutil.Error, ValueError):
        return 0.0
    return float(t.user + t.system)


async def _child(
    services: dict[str, dict[str, int]], run_dir: Path, scenario: Path | None = None
) -> None:
    from meshsim.control.plan import build_plan
    from meshsim.mesh import Mesh

    app = None
    if scenario is not None:  # an application of one's own, as `meshsim up` reads it
        from meshsim.scenario import load_scenario, resolve_application, resolve_mesh

        own = load_scenario(scenario)
        services, app = resolve_mesh(own), resolve_application(own)
    mesh = Mesh(build_plan(services, 0, app), run_dir, scenario="bench-startup")
    try:
        start_s = await mesh.start()
        t_ready = time.monotonic()
        cpu = {"meshsim": time.process_time()}
        for comp in mesh.runtime.components():
            kind = "app" if comp.kind == "app" else "envoy"
            cpu[kind] = cpu.get(kind, 0.0) + _cpu_seconds(comp.pid)
        for pid in mesh.runtime.app_helpers():  # the fork server's imports
            cpu["app"] = cpu.get("app", 0.0) + _cpu_seconds(pid)
        reply = {"t_ready": t_ready, "start_s": start_s, "cpu_s": cpu}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    finally:
        await mesh.stop()


def main() -> None:
    services = json.loads(sys.argv[1])
    run_dir = Path(sys.argv[2])
    scenario = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    try:
        asyncio.run(_child(services, run_dir, scenario))
    except MeshError as exc:
        sys.stderr.write(f"{exc}\n")
        sys.exit(3)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
