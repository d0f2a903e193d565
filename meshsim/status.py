"""What `meshsim status`, `meshsim down` and `meshsim config` read: the mesh
records of running meshes and the files in their run directories."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from meshsim.control.bypass import bypass_note
from meshsim.control.phases import iter_phases
from meshsim.control.plan import Instance, MeshPlan
from meshsim.control.state import PolicyState
from meshsim.control.xds_record import read_sync
from meshsim.errors import UsageError
from meshsim.rundir import RunDir
from meshsim.runtime.engine import remove_run, run_containers, sweep
from meshsim.runtime.registry import (
    MeshRecord,
    all_meshes,
    same_process,
    terminate,
)
from meshsim.scenario import load_scenario
from meshsim.telemetry.runfiles import read_plan
from meshsim.timeline import read_phase_events
from meshsim.xds_watch import watch


def _probe(url: str, expect: str | None = None) -> str:
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=0.5) as resp:
            body = resp.read().decode(errors="replace").strip()
            if expect is not None and body != expect:
                return body or "not ready"
            return "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return "down"


def _app_health(plan: MeshPlan, inst: Instance, host: str, port: int, probe: bool) -> str:
    """The app's readiness as the mesh checks it: GET of its service's health
    path; without one, whether its port accepts a connection (on Docker the
    sidecar's probe listener checks that for us, asked with GET /)."""
    service = plan.app.services.get(inst.service)
    path = service.health if service is not None else "/healthz"
    if path is None and not probe:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            return "down"
        return "ok"
    return _probe(f"http://{host}:{port}{path or '/'}")


def _plan(mesh: MeshRecord) -> MeshPlan | None:
    path = RunDir(Path(mesh.run_dir)).plan
    try:
        return MeshPlan.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mesh_status() -> list[dict[str, Any]]:
    """Every mesh with each component's pid, state, ports and health."""
    out = []
    for mesh in all_meshes():
        plan = _plan(mesh)
        comps = []
        for p in mesh.processes:
            alive = same_process(p.pid, p.create_time)
            comp: dict[str, Any] = {
                "name": p.name,
                "kind": p.kind,
                "instance": p.instance,
                "pid": p.pid,
                "state": "running" if alive else "exited",
                "log": p.log,
            }
            if plan is not None and p.kind in ("app", "sidecar"):
                inst = plan.instance(p.instance)
                comp.update(
                    app_port=inst.app_port,
                    inbound_port=inst.inbound_port,
                    outbound_port=inst.outbound_port,
                    admin_port=inst.admin_port,
                )
                if alive and p.kind == "app":
                    comp["health"] = _app_health(plan, inst, inst.host, inst.app_port, False)
                elif alive:
                    comp["health"] = _probe(f"http://127.0.0.1:{inst.admin_port}/ready", "LIVE")
            elif plan is not None and p.kind == "ingress":
                comp.update(port=plan.ingress.port, admin_port=plan.ingress.admin_port)
                if alive:
                    comp["health"] = _probe(
                        f"http://127.0.0.1:{plan.ingress.admin_port}/ready", "LIVE"
                    )
            comps.append(comp)
        if mesh.runtime == "docker":
            comps += _docker_components(mesh, plan)
        out.append(
            {
                "run_id": mesh.run_id,
                "scenario": mesh.scenario,
                "runtime": mesh.runtime,
                "status": mesh.status if mesh.owner_alive() or mesh.keep else "abandoned",
                "run_dir": mesh.run_dir,
                "owner_pid": mesh.owner_pid,
                "ingress_url": f"http://127.0.0.1:{mesh.ingress_port}",
                "components": comps,
                # per proxy: its ADS stream and each type's SYNCED / STALE / NACK
                "proxies": read_sync(RunDir(Path(mesh.run_dir)).xds),
                "notes": [n for n in [_bypass_note(mesh, plan)] if n is not None],
            }
        )
    return out


def _bypass_note(mesh: MeshRecord, plan: MeshPlan | None) -> str | None:
    """On the local runtime, when a sidecar enforces STRICT mTLS or an
    AuthorizationPolicy now (the scenario's phases replayed up to the one
    running), that its app's port walks around it. Best effort: None when the
    run directory cannot say."""
    if mesh.runtime != "local" or plan is None:
        return None

    run_dir = Path(mesh.run_dir)
    try:
        scenario = load_scenario(RunDir(run_dir).scenario)
    except Exception:  # only a note: a damaged copy must not break `status`
        return None
    events = read_phase_events(RunDir(run_dir).phases)
    started = [e.index for e in events if e.event == "phase_start" and e.index is not None]
    state = PolicyState.initial(plan.app)
    if started:  # in force now: what the last phase that started left
        for step in iter_phases(scenario, plan.app, state):
            if step.index == max(started):
                break
    return bypass_note(state, plan)


def _docker_components(mesh: MeshRecord, plan: MeshPlan | None) -> list[dict[str, Any]]:
    """A Docker mesh's containers (by run label), with the ports published on
    127.0.0.1 and each one's health."""
    comps = []
    files = RunDir(Path(mesh.run_dir))
    for c in run_containers(mesh.run_id):
        role, instance = c["role"], c["instance"]
        comp: dict[str, Any] = {
            "name": instance if role == "ingress" else f"{instance}/{role}",
            "kind": role,
            "instance": instance,
            "pid": None,
            "container": c["container"],
            "state": c["state"],
            "log": str(files.app_log(instance) if role == "app" else files.envoy_log(instance)),
        }
        running = c["state"] == "running"
        known = plan is not None and instance in {i.name for i in plan.instances}
        if plan is not None and known and role in ("pod", "app", "sidecar"):
            inst = plan.instance(instance)
            comp.update(
                pod_ip=inst.host,
                app_port=inst.app_address[1],
                inbound_port=inst.inbound_address[1],
                outbound_port=inst.outbound_address[1],
                admin_port=inst.admin_address[1],
            )
            (app_host, app_port), (admin_host, admin_port) = inst.app_address, inst.admin_address
            if running and role == "app":
                comp["health"] = _app_health(plan, inst, app_host, app_port, True)
            elif running and role == "sidecar":
                comp["health"] = _probe(f"http://{admin_host}:{admin_port}/ready", "LIVE")
        elif plan is not None and role == "ingress":
            host, admin = plan.ingress.admin_address
            comp.update(port=plan.ingress.published_port or plan.ingress.port, admin_port=admin)
            if running:
                comp["health"] = _probe(f"http://{host}:{admin}/ready", "LIVE")
        comps.append(comp)
    return comps


def stop_all_meshes(timeout: float = 5.0) -> list[tuple[str, list[str]]]:
    """Stop every recorded mesh. A live `meshsim up` is asked to stop (SIGTERM,
    so it writes its report); whatever remains is terminated. Docker meshes
    lose their containers and network by label, and any container or network
    meshsim made under this $MESHSIM_HOME without a record is removed too."""
    stopped = []
    for mesh in all_meshes():
        # A kept mesh's run is over: its owner may be a live notebook kernel
        # (meshsim.run(..., keep=True)) that must not be signalled.
        if not mesh.keep and mesh.owner_alive() and mesh.owner_pid != os.getpid():
            os.kill(mesh.owner_pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout + 5
            while mesh.path.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        names = terminate(mesh.processes, timeout)
        if mesh.runtime == "docker":
            names += remove_run(mesh.run_id)
        mesh.delete()
        stopped.append((mesh.run_id, names))

    orphans = sweep()  # containers and networks of runs that have no record any more
    if orphans:
        stopped.append(("leftover containers", orphans))
    return stopped


def _find_run_dir(run_dir: Path | None) -> Path:
    if run_dir is not None:
        return run_dir
    meshes = all_meshes()
    if not meshes:
        raise UsageError("no mesh is running; start one with `meshsim up --keep` or pass --run-dir")
    return Path(meshes[-1].run_dir)


def _proxy_names(run_dir: Path) -> list[str]:
    """The proxies of a run: its plan's (the xds/ directories of a run without
    a readable plan.json); plain names only, whatever a damaged file says."""
    plan = read_plan(run_dir)
    xds = RunDir(run_dir).xds
    if plan is not None:
        names = plan.proxies
    elif xds.is_dir():
        names = sorted(p.name for p in xds.iterdir() if p.is_dir())
    else:
        names = []
    return [n for n in names if n not in ("", ".", "..") and "/" not in n and "\\" not in n]


def proxy_config(proxy: str, kind: str, run_dir: Path | None) -> str:
    """The xDS files a proxy was given, as pretty JSON."""
    found = _find_run_dir(run_dir)
    known = _proxy_names(found)
    # Only a proxy of the plan, never a path: `config ../../../../etc` listed /etc.
    if proxy not in known:
        raise UsageError(
            f"no proxy named {proxy!r} in {found}; expected one of {', '.join(known) or 'none'}"
        )
    root = RunDir(found).xds / proxy
    if not root.is_dir():
        raise UsageError(f"{root}: no configuration was written for {proxy}")
    files = {
        "bootstrap": ["bootstrap.json"],
        "listeners": ["lds.json"],
        "clusters": ["cds.json"],
        "routes": sorted(p.name for p in root.glob("rds_*.json")),
    }
    if kind == "all":
        names = files["listeners"] + files["routes"] + files["clusters"]
    elif kind in files:
        names = files[kind]
    else:
        raise UsageError(f"--kind {kind}: expected one of all, {', '.join(files)}")
    parts = []
    for name in names:
        data = json.loads((root / name).read_text(encoding="utf-8"))
        parts.append(f"# {proxy}: {name}\n{json.dumps(data, indent=2)}")
    return "\n\n".join(parts)


def xds_stream(proxy: str, run_dir: Path | None, follow: bool) -> Iterator[str]:
    """`meshsim xds watch`: the readable lines of `proxy`'s ADS stream; with
    `follow`, new lines until the mesh's meshsim process ends."""
    found = _find_run_dir(run_dir)
    known = _proxy_names(found)
    if proxy not in known:
        raise UsageError(
            f"no proxy named {proxy!r} in {found}; expected one of {', '.join(known) or 'none'}"
        )
    owner = next((m for m in all_meshes() if Path(m.run_dir) == found), None)
    alive = owner.owner_alive if owner is not None else (lambda: False)
    return watch(RunDir(found).xds, proxy, follow=follow, alive=alive)
