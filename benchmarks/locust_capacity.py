"""How many requests per second one Locust process sustains on this machine.

Runs meshsim's own locustfile through `LocustRunner` with no think time
(MESHSIM_WAIT=0), for each HTTP client and user count, and counts the requests
it recorded in a steady window. CPU of the locust process, of the target and of
everything else on the machine is sampled too (percent of one core): when
locust sits near 100 % it is the limit; when it does not, the target or other
work on a shared machine took the cores, and the figure is a lower bound.

By default the target is a minimal aiohttp app (the shop's four routes) in a
process of its own; `--host` points it at anything else, e.g. a running mesh's
ingress:

    python benchmarks/locust_capacity.py                       # local target
    python benchmarks/locust_capacity.py --host http://127.0.0.1:8080 --users 20 50

Results belong in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshsim.load import LocustRunner, read_records  # noqa: E402
from meshsim.scenario.model import LoadSpec  # noqa: E402

Client = Literal["fast", "requests"]


def serve(port: int) -> None:
    """The stand-in target: cheap handlers, no access log."""
    from aiohttp import web

    products = [{"id": i, "name": f"product {i}", "price": 10 + i} for i in range(1, 21)]

    async def list_products(request: web.Request) -> web.Response:
        return web.json_response(products, headers={"x-served-by": "product-v1-0"})

    async def one_product(request: web.Request) -> web.Response:
        pid = int(request.match_info["id"])
        return web.json_response(products[pid - 1], headers={"x-served-by": "product-v1-0"})

    async def one_user(request: web.Request) -> web.Response:
        uid = int(request.match_info["id"])
        return web.json_response({"id": uid}, headers={"x-served-by": "user-v1-0"})

    async def place_order(request: web.Request) -> web.Response:
        await request.read()
        headers = {"x-served-by": "order-v1-0", "x-upstreams": "user-v1-0,product-v1-0"}
        return web.json_response({"id": 1}, status=201, headers=headers)

    app = web.Application()
    app.add_routes(
        [
            web.get("/products", list_products),
            web.get("/products/{id}", one_product),
            web.get("/users/{id}", one_user),
            web.post("/orders", place_order),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@dataclass
class Result:
    client: Client
    users: int
    rps: float
    failures: int
    p50_ms: float
    p99_ms: float
    locust_cpu: float  # percent of one core
    target_cpu: float | None
    other_cpu: float  # everything else on the machine, percent of one core


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def _cpu_seconds(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return t.user + t.system


async def measure(
    host: str,
    client: Client,
    users: int,
    seconds: float,
    warmup: float,
    target_pid: int | None,
    wait_time: str | None = "0",
) -> Result:
    with tempfile.TemporaryDirectory(prefix="meshsim-bench-") as tmp:
        records = Path(tmp) / "records"
        runner = LocustRunner(
            host,
            LoadSpec(users=users, spawn_rate=max(users, 1) * 10),
            records,
            Path(tmp) / "locust.log",
            wait_time=wait_time,
            client=client,
        )
        async with runner:
            assert runner.pid is not None
            locust = psutil.Process(runner.pid)
            target = psutil.Process(target_pid) if target_pid else None
            await asyncio.sleep(warmup)
            t0, c0, tc0, b0 = (
                time.time(),
                _cpu_seconds(locust),
                _cpu_seconds(target),
                _busy_seconds(),
            )
            await asyncio.sleep(seconds)
            t1, c1, tc1, b1 = (
                time.time(),
                _cpu_seconds(locust),
                _cpu_seconds(target),
                _busy_seconds(),
            )
            runner.check()
        window = [r for r in read_records(records) if t0 <= r.t < t1]
    lat = sorted(r.latency_us for r in window) or [0]
    return Result(
        client=client,
        users=users,
        rps=len(window) / (t1 - t0),
        failures=sum(not r.ok for r in window),
        p50_ms=statistics.median(lat) / 1000,
        p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000,
        locust_cpu=100 * (c1 - c0) / (t1 - t0),
        target_cpu=100 * (tc1 - tc0) / (t1 - t0) if target else None,
        other_cpu=100 * max(0.0, (b1 - b0) - (c1 - c0) - (tc1 - tc0)) / (t1 - t0),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"target did not listen on {port}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", help="target URL (default: start a local aiohttp target)")
    p.add_argument(
        "--clients", nargs="+", default=["fast", "requests"], choices=["fast", "requests"]
    )
    p.add_argument("--users", nargs="+", type=int, default=[1, 10, 50])
    p.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument(
        "--wait",
        default="0",
        help="MESHSIM_WAIT for the shoppers (default 0: no think time); "
        "'' keeps the locustfile's default think time",
    )
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve)
        return

    target: subprocess.Popen[bytes] | None = None
    host = args.host
    if host is None:
        port = _free_port()
        target = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
        _wait_listening(port)
        host = f"http://127.0.0.1:{port}"
    try:
        print(
            f"# {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
            f"target {host}{' (local aiohttp)' if target else ''}; "
            f"{args.seconds:g} s window after {args.warmup:g} s warm-up; "
            f"MESHSIM_WAIT={args.wait or '(default)'}\n"
        )
        print(
            "| client | users | rps | failures | p50 ms | p99 ms "
            "| locust CPU | req per locust CPU-s | target CPU | other CPU |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for client in args.clients:
            for users in args.users:
                r = asyncio.run(
                    measure(
                        host,
                        client,
                        users,
                        args.seconds,
                        args.warmup,
                        target.pid if target else None,
                        args.wait or None,
                    )
                )
                tcpu = f"{r.target_cpu:.0f} %" if r.target_cpu is not None else "-"
                # Requests per second of locust's own CPU: the client's cost,
                # comparable even when other work on the machine steals cores.
                per_cpu = f"{100 * r.rps / r.locust_cpu:,.0f}" if r.locust_cpu else "-"
                print(
                    f"| {r.client} | {r.users} | {r.rps:,.0f} | {r.failures} | {r.p50_ms:.2f} "
                    f"| {r.p99_ms:.2f} | {r.locust_cpu:.0f} % | {per_cpu} | {tcpu} "
                    f"| {r.other_cpu:.0f} % |",
                    flush=True,
                )
    finally:
        if target is not None:
            target.terminate()
            target.wait(10)


if __name__ == "__main__":
    main()
