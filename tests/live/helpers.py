"""Helpers for live-mesh tests: run the CLI, inspect ports and processes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

SHOP = {"user": {"v1": 1}, "product": {"v1": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}


def meshsim(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshsim.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def running(argv: list[str]) -> Iterator[subprocess.Popen[str]]:
    """`argv` in the background, its output on a pipe; on every way out of the
    block, a failed assertion included, it is stopped and its pipe closed.

    Why every way: a failed test's traceback keeps `proc` alive until some
    later garbage collection, whose ResourceWarning for the unclosed pipe
    (`filterwarnings = error`) then fails whichever test happens to be running
    (CI: test_istio_tasks, after a test_docker test timed out)."""
    # Popen's exit closes the pipe, then reaps the process.
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()  # meshsim stops its mesh on SIGTERM
                try:
                    proc.communicate(timeout=60)  # drained: it never blocks writing
                except subprocess.TimeoutExpired:
                    proc.kill()


def running_meshsim(*args: str) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """`meshsim ARGS` in the background (see `running`)."""
    return running([sys.executable, "-m", "meshsim.cli", *args])


def plan_ports(run_dir: Path) -> list[int]:
    plan = json.loads((run_dir / "plan.json").read_text())
    ports = [plan["ingress"]["port"], plan["ingress"]["admin_port"]]
    for inst in plan["instances"]:
        ports += [inst["app_port"], inst["inbound_port"], inst["outbound_port"], inst["admin_port"]]
    return ports


def bound(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def phase_started(run_dir: Path, name: str) -> bool:
    path = run_dir / "phases.jsonl"
    if not path.exists():
        return False
    return any(
        json.loads(line).get("event") == "phase_start" and json.loads(line).get("phase") == name
        for line in path.read_text().splitlines()
        if line.strip()
    )


def mesh_pids(home: Path) -> list[int]:
    pids = []
    for f in (home / "meshes").glob("*.json"):
        pids += [p["pid"] for p in json.loads(f.read_text())["processes"]]
    return pids


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def skip_unless_ci(reason: str) -> None:
    """Skip, saying why; in CI (`CI` set, as `.ci/run` does) fail instead: a
    skipped Docker test there would hide a runtime that no longer works."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip", pytrace=False)
    pytest.skip(reason)


def docker_engine() -> Any:
    """A client for the Docker engine with meshsim's images built, or a skip
    (a failure in CI) saying why there is none."""
    from meshsim.errors import MeshError
    from meshsim.runtime.engine import connect
    from meshsim.runtime.images import ensure_images

    try:
        client = connect(timeout=5)
    except MeshError as exc:
        skip_unless_ci(
            f"no Docker engine reachable ({exc}; .ci/run starts one, see docs/docker.md)"
        )
    try:
        ensure_images(client)  # once per module; later runs find them current
    except MeshError as exc:
        skip_unless_ci(f"no base image for meshsim's images: {exc}")
    return client


def run_to_pass(path: Path, run_dir: Path, scale: float) -> dict[str, Any]:
    """Run a scenario in this process at `scale` and assert exit 0, listing each
    failed expectation with what was observed; returns report.json."""
    from meshsim.runner import RunOptions, run

    result = run(path, RunOptions(ingress_port=0, time_scale=scale, run_dir=run_dir))
    report: dict[str, Any] = {}
    failed = []
    if result.report is not None:
        report = json.loads((run_dir / "report.json").read_text())
        failed = [
            f"{p['name']}: {e['expr']} (observed {e['observed']}, {e.get('note') or ''})"
            for p in report["phases"]
            for e in p["expectations"]
            if not e["passed"]
        ]
    assert result.exit_code == 0, (result.error, failed)
    return report
