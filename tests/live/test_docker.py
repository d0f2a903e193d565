"""The Docker runtime for real: every library scenario gives the local
runtime's verdict, chaos maps to container actions, nothing is left behind
after a run or after `kill -9` + `meshsim down`, and the exported compose
project serves orders.

Skips, with the reason, when no Docker engine is reachable, and fails instead
when `CI` is set (tests/runtime/test_docker_guard.py checks that). In CI `.ci/run`
starts one and exports MESHSIM_BASE_IMAGE (a base image built locally: no
registry is reachable there); elsewhere the base is pulled when missing.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from meshsim import rundata
from meshsim.scenario import load_scenario
from tests.live.helpers import (
    docker_engine,
    meshsim,
    phase_started,
    running_meshsim,
    skip_unless_ci,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker]

REPO = Path(__file__).parents[2]
# The whole library (issue 14: "the scenario library passes on both
# runtimes"); test_scenario_library (or a notebook, or test_cli) requires each
# to pass locally at the same length. A scenario added to scenarios/ is run
# here too.
LIBRARY = sorted((REPO / "scenarios").glob("*.yaml"))
# Each is shortened to this much of phases, as test_scenario_library does.
PHASES_S = 15.0
# Except the soak: ten phases, each with chaos; at 15 s each phase is 1.5 s,
# shorter than one `restart` of a container (Docker restarts it, then the app
# starts: 2 s on a quiet machine, 4.5-11 s measured at load 12-25), so its
# phases would measure the restarts' overlap rather than the lesson (its
# policies hide each failure). 4 s a phase holds one restart. And canary at
# 20 s: its all-v2 phase has no settle, and at 15 s (3 s) the calls that took
# v1 before the push reached every sidecar weighed 5.2 % against "> 95 %"
# (a quiet machine, load 2); at 20 s it passed in every earlier run.
PHASES_FOR = {"soak": 40.0, "canary": 20.0}

CHAOS = """
name: docker-chaos
mesh:
  services:
    product:
      versions: {v1: {replicas: 2}}
load: {users: 6, spawn_rate: 6}
phases:
  - name: warm
    duration: 3s
    expect: ["error_rate < 1%"]
  - name: chaos
    duration: 6s
    actions:
      - {kill: product-v1-0, at: 0.2s}
      - {restart: product-v1-0, at: 2s}
      - {pause: product-v1-1, at: 3s}
      - {resume: product-v1-1, at: 4s}
      - {restart: product-v1-1, at: 5s}
  - name: after
    duration: 4s
    expect: ["error_rate < 1%"]
"""

LONG = """
name: long
load: {users: 4, spawn_rate: 4}
phases:
  - {name: first, duration: 2s, expect: ["error_rate < 1%"]}
  - {name: second, duration: 120s}
"""


@pytest.fixture(scope="module")
def engine() -> Any:
    return docker_engine()


def leftovers(client: Any) -> list[str]:
    """Everything labelled with this test's MESHSIM_HOME."""
    from meshsim.runtime.engine import home_label

    flt = {"label": [f"meshsim.home={home_label()}"]}
    return (
        [c.name for c in client.containers.list(all=True, filters=flt)]
        + [n.name for n in client.networks.list(filters=flt)]
        + [v.name for v in client.volumes.list(filters=flt)]
    )


def up(scenario: Path, run_dir: Path, scale: float = 1.0) -> subprocess.CompletedProcess[str]:
    return meshsim(
        "up", str(scenario), "--runtime", "docker", "--ingress-port", "0",
        "--time-scale", f"{scale:.4f}", "--run-dir", str(run_dir), timeout=280,
    )  # fmt: skip


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_scenario_gives_the_same_verdict_as_local(engine: Any, path: Path, tmp_path: Path) -> None:
    # test_scenario_library (or the notebook or test_cli that runs it) runs
    # each of these locally and requires a pass
    total = sum(p.duration for p in load_scenario(path).phases)
    result = up(path, tmp_path / "run", min(1.0, PHASES_FOR.get(path.stem, PHASES_S) / total))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    failed = [
        f"{p['name']}: {e['expr']} (observed {e['observed']})"
        for p in report["phases"]
        for e in p["expectations"]
        if not e["passed"]
    ]
    assert result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-2000:])
    assert report["verdict"] == "pass"
    # the instances ran in pods on the run's Docker network, not on loopback
    # (report["runtime"] only echoes the option)
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    hosts = {i["host"] for i in plan["instances"]}
    assert hosts and not any(h.startswith("127.") for h in hosts), hosts
    assert all(i["published_app_port"] for i in plan["instances"])
    assert leftovers(engine) == []
    if path.stem == "baseline":
        # telemetry crosses the container boundary: access logs through the
        # bind-mounted logs/, spans to the collector on the network's gateway
        run = tmp_path / "run"
        # (compressed at the run's end: meshsim.rundata reads either form)
        assert rundata.total_size(run / "logs" / "order-v1-0.inbound.jsonl") > 0
        assert rundata.total_size(run / "traces.jsonl") > 0


def test_chaos_kills_restarts_and_pauses_app_containers(engine: Any, tmp_path: Path) -> None:
    scenario = tmp_path / "chaos.yaml"
    scenario.write_text(CHAOS)
    result = up(scenario, tmp_path / "run")
    assert result.returncode == 0, result.stdout[-3000:]
    events = [
        json.loads(line)
        for line in (tmp_path / "run" / "phases.jsonl").read_text().split("\n")
        if line
    ]
    acts = [e for e in events if e["event"] == "action"]
    seen = [(e["verb"], [o["state"] for o in e["observed"]]) for e in acts]
    # what a caller of each app's port saw after the container action
    assert seen == [
        ("kill", ["refused"]),
        ("restart", ["answering"]),
        ("pause", ["unresponsive"]),
        ("resume", ["answering"]),
        ("restart", ["answering"]),
    ], acts
    assert all(e["effective"] for e in acts), acts
    # the restart of a running container: a new start time, the same container
    assert acts[4]["observed"][0]["identity"] != acts[3]["observed"][0]["identity"]
    # the restarted app came back in the same pod: same IP, and its sidecar untouched
    lines = (tmp_path / "run" / "logs" / "product-v1-0.app.log").read_text().splitlines()
    listening = [line.rsplit(" ", 1)[-1] for line in lines if "listening on" in line]
    assert len(listening) == 2 and listening[0] == listening[1], lines
    # ... its Envoy opened its one ADS stream once: never restarted
    stream = (tmp_path / "run" / "xds" / "stream.jsonl").read_text().splitlines()
    connects = [e for e in map(json.loads, stream) if e["kind"] == "connect"]
    assert [e["proxy"] for e in connects].count("product-v1-0") == 1, connects
    assert leftovers(engine) == []


def _run_id(run_dir: Path) -> str:
    """Containers are named after the run id, which run.json holds."""
    return str(json.loads((run_dir / "run.json").read_text())["run_id"])


def _inspect_sidecar(client: Any, run_id: str) -> None:
    """Config reaches Envoy over ADS alone: Envoy is the container's only
    process (no agent), no configuration file is in the container, and only
    the logs directory is shared."""
    flt = {"label": [f"meshsim.run={run_id}", "meshsim.role=sidecar"]}
    sidecars = client.containers.list(filters=flt)
    assert sidecars
    for c in sidecars:
        mounts = [m["Destination"] for m in c.attrs["Mounts"]]
        assert len(mounts) == 1 and mounts[0].endswith("/logs"), mounts
        proxy = c.labels["meshsim.instance"]
        code, out = c.exec_run(["sh", "-c", f"ls {mounts[0][:-5]}/xds/{proxy}"])
        assert code != 0, out  # no xds directory in the container
        code, out = c.exec_run(["cat", "/proc/1/cmdline"])
        assert code == 0 and out.split(b"\0")[0] == b"/usr/local/bin/envoy", out
        assert b"--config-yaml" in out


def test_capture_then_sigkill_and_down_leave_no_container_network_or_volume(
    engine: Any, tmp_path: Path
) -> None:
    """One mesh for two proofs that each need a running one: the pods' capture
    (an app that ignores the proxy variables is meshed), then `kill -9` of
    meshsim and `meshsim down`. (A clean stop leaving nothing is checked after
    every library scenario.)"""
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    run_dir = tmp_path / "run"
    with running_meshsim(
        "up", str(scenario), "--runtime", "docker", "--ingress-port", "0", "--run-dir", str(run_dir)
    ) as proc:
        wait_for(lambda: phase_started(run_dir, "second"), 180, "the second phase")
        _inspect_sidecar(engine, _run_id(run_dir))
        _check_capture(engine, run_dir)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    assert len(leftovers(engine)) >= 4 * 3 + 2  # pods, apps, sidecars, ingress, network
    status = meshsim("status", "--json")
    mesh = json.loads(status.stdout)[0]
    assert mesh["status"] == "abandoned" and mesh["runtime"] == "docker"
    containers = [c for c in mesh["components"] if c.get("container")]
    assert {c["kind"] for c in containers} == {"pod", "app", "sidecar", "ingress"}
    assert all(c["state"] == "running" for c in containers)
    down = meshsim("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(engine) == []
    assert json.loads(meshsim("status", "--json").stdout) == []


def test_exported_compose_project_serves_an_order(engine: Any, tmp_path: Path) -> None:
    import shutil

    from meshsim.control.plan import free_ports

    if not shutil.which("docker-compose"):
        skip_unless_ci("docker-compose is not installed")
    port = free_ports(1)[0]
    out = tmp_path / "compose"
    export = meshsim("export", "compose", str(REPO / "scenarios" / "baseline.yaml"), "-o", str(out),
                     "--ingress-port", str(port))  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    project = ["docker-compose", "-p", f"meshsim-test-{port}"]
    subprocess.run([*project, "up", "-d"], cwd=out, check=True, capture_output=True, timeout=120)
    try:
        body = json.dumps({"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}).encode()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def ordered() -> bool:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/orders", body, {"content-type": "application/json"}
            )
            try:
                with opener.open(req, timeout=5) as resp:
                    return bool(resp.status == 201)
            except OSError:
                return False

        wait_for(ordered, 60, "a first order through the compose project's ingress")
        time.sleep(1.5)  # Envoy flushes access logs every second
        assert list((out / "logs").glob("*.inbound.jsonl"))
    finally:
        subprocess.run(
            [*project, "down", "-v", "-t", "1"], cwd=out, capture_output=True, timeout=120
        )


# An app that ignores the proxy variables: a raw socket to `product:80`, the
# request in origin form with only a Host header, as any HTTP client sends it.
RAW_CLIENT = """
import os, socket
assert os.getgid() != 1337, "the app must not run in the sidecar's group"
for _ in range(3):
    s = socket.create_connection(("product", 80), timeout=5)
    s.sendall(b"GET /products/1 HTTP/1.1\\r\\nHost: product\\r\\nConnection: close\\r\\n\\r\\n")
    print(s.recv(200).split(b"\\r\\n")[0].decode())
    s.close()
"""


def _counter(admin: tuple[str, int], name: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://{admin[0]}:{admin[1]}/stats?filter=^{name}$"
    with opener.open(url, timeout=5) as resp:
        text = resp.read().decode()
    return int(text.split(":")[1]) if text.strip() else 0


def _check_capture(engine: Any, run_dir: Path) -> None:
    """An app that ignores the proxy variables is meshed by the pod's rules."""
    from meshsim.control.plan import MeshPlan

    plan = MeshPlan.from_dict(json.loads((run_dir / "plan.json").read_text()))
    user = plan.instance("user-v1-0")  # calls nobody: its counters are ours alone
    product = "cluster.outbound_80__product.upstream_rq_200"
    before = _counter(user.admin_address, product)
    app = engine.containers.get(f"meshsim-{_run_id(run_dir)}-user-v1-0-app")
    code, out = app.exec_run(
        ["python", "-c", RAW_CLIENT], environment={"HTTP_PROXY": "", "http_proxy": ""}
    )
    assert code == 0, out.decode()
    assert out.decode().split() == ["HTTP/1.1", "200", "OK"] * 3
    # the three requests went through the user pod's sidecar
    assert _counter(user.admin_address, product) - before == 3
    # the app's port: not published, and refused at the pod's address
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((user.host, 8080), timeout=5).close()
    pod = engine.containers.get(f"meshsim-{_run_id(run_dir)}-user-v1-0-pod")
    assert not (pod.attrs["NetworkSettings"]["Ports"] or {}).get("8080/tcp")  # EXPOSEd only
    # readiness reaches the app's health path through the sidecar, and nothing else
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    host, port = user.app_address
    with opener.open(f"http://{host}:{port}/healthz", timeout=5) as resp:
        assert resp.status == 200
    with pytest.raises(urllib.error.HTTPError) as denied:
        opener.open(f"http://{host}:{port}/users/1", timeout=5)
    assert denied.value.code == 404
    denied.value.close()
    # and the init container that set the rules is gone
    inits = engine.containers.list(
        all=True, filters={"label": [f"meshsim.run={_run_id(run_dir)}", "meshsim.role=init"]}
    )
    assert inits == []
