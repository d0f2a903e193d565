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
import functools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from meshsim.bench.context import BenchContext
from meshsim.bench.stats import summary
from meshsim.errors import MeshError
from meshsim.rundir import RunDir
from meshsim.runtime.limits import INOTIFY_HEADROOM, inotify_in_use, inotify_limit

# Inotify instances per Envoy (see meshsim.runtime.limits): a sidecar watches
# listeners, clusters, two route configurations and two secrets.
INOTIFY_PER_SIDECAR = 6
INOTIFY_INGRESS = 5

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
    requested_instances: int | None = None
    limited_by: str | None = None


@dataclass
class Extrapolation:
    """Where the inotify limit kept the large mesh small: the time for the
    requested size, on the line through the two measured shapes, and the CPU
    that many instances need divided by the machine's cores (a lower bound)."""

    instances: int
    linear_s: float | None
    cpu_bound_s: float


@dataclass
class StartupResult:
    shapes: list[StartupShape]
    extrapolated: Extrapolation | None = None

    def shape(self, name: str) -> StartupShape:
        return next(s for s in self.shapes if s.name == name)


# Room left for meshes other people start on a shared machine while the bench runs.
INOTIFY_MARGIN = 24
INOTIFY_RETRIES = 15
INOTIFY_RETRY_S = 2.0


def instances_that_fit(wanted: int) -> tuple[int, str | None]:
    """How many instances (each with its sidecar) fit in the inotify budget now."""
    limit = inotify_limit()
    if limit is None:
        return wanted, None
    free = limit - inotify_in_use() - INOTIFY_HEADROOM - INOTIFY_MARGIN - INOTIFY_INGRESS
    fit = max(0, free // INOTIFY_PER_SIDECAR)
    if fit >= wanted:
        return wanted, None
    return fit, (
        f"fs.inotify.max_user_instances={limit}: {wanted} instances need "
        f"{wanted * INOTIFY_PER_SIDECAR + INOTIFY_INGRESS} inotify instances, {free + INOTIFY_INGRESS} were free"
    )


async def retry_on_inotify(
    attempt: Callable[[], Awaitable[T]], progress: Callable[[str], None]
) -> T:
    """Run `attempt`; while it fails for want of inotify instances (other meshes on
    the machine hold them), wait and try again."""
    for _ in range(INOTIFY_RETRIES):
        try:
            return await attempt()
        except MeshError as exc:
            if "inotify" not in str(exc):
                raise
            progress("waiting for inotify instances held by other meshes on this machine")
            await asyncio.sleep(INOTIFY_RETRY_S)
    return await attempt()


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
    wanted = c.many_instances
    fit, limited_by = await _wait_for_room(
        wanted, min(wanted, c.min_many_instances), ctx, 10.0 if c.quick else 60.0
    )
    own = write_own_app(c.run_dir / "own-services")
    plan: list[tuple[str, dict[str, dict[str, int]], int | None, str | None, Path | None]] = [
        ("default shop", DEFAULT_SHOP, None, None, None),
        (f"{fit} instances", many_instances(fit), wanted, limited_by, None),
        (OWN_SHAPE, OWN_SERVICES, None, None, own),
    ]
    runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {name: [] for name, *_ in plan}
    for r in range(c.startup_repeats):
        for name, services, _, _, scenario in plan if r % 2 == 0 else list(reversed(plan)):
            ctx.progress(f"start-up: {name}, run {r + 1}/{c.startup_repeats}")
            run_dir = c.run_dir / f"startup-{name.replace(' ', '-')}-{r}"
            runs[name].append(
                await retry_on_inotify(
                    functools.partial(start_once, services, run_dir, scenario), ctx.progress
                )
            )
    out = []
    for name, services, requested, why, _ in plan:
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
                requested if requested != total else None,
                why,
            )
        )
    return StartupResult(out, extrapolate(out[0], out[1], wanted))


async def _wait_for_room(
    wanted: int, enough: int, ctx: BenchContext, patience_s: float = 60.0
) -> tuple[int, str | None]:
    """The size of the large mesh: `wanted` if it fits, else wait (up to
    `patience_s`) until at least `enough` instances fit, else what fits now."""
    deadline = time.monotonic() + patience_s
    fit, why = instances_that_fit(wanted)
    while fit < enough and time.monotonic() < deadline:
        ctx.progress(f"start-up: room for {fit} instances (inotify), waiting for {enough}")
        await asyncio.sleep(INOTIFY_RETRY_S)
        fit, why = instances_that_fit(wanted)
    return max(fit, 5), why


# The line through the two shapes says little when they are this close in size.
MIN_SPAN = 4


def extrapolate(small: StartupShape, large: StartupShape, wanted: int) -> Extrapolation | None:
    """A straight line through the two shapes' medians, evaluated at `wanted`
    (None when the shapes are too close to draw one), and the CPU bound."""
    if large.instances >= wanted:
        return None
    n0, t0 = small.instances, small.summary_s["median"]
    n1, t1 = large.instances, large.summary_s["median"]
    linear = None
    if n1 - n0 >= MIN_SPAN:
        linear = round(t1 + (t1 - t0) / (n1 - n0) * (wanted - n1), 2)
    per_instance_cpu = (large.cpu_s.get("app", 0) + large.cpu_s.get("envoy", 0)) / n1
    cores = os.cpu_count() or 1
    return Extrapolation(
        wanted,
        linear,
        round((per_instance_cpu * wanted + large.cpu_s.get("meshsim", 0)) / cores, 2),
    )


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
