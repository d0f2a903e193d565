"""What two plain Envoys cost on this machine, without anything meshsim adds.

Two measurements, each with minimal static Envoy configs (one route, the
router filter only, no TLS, no RBAC, no access log), `--concurrency 1` as
meshsim runs them:

1. latency: `client → envoy → envoy → app` against `client → app` (the
   product app), interleaved rounds, at `--rate` — the floor under
   `meshsim bench`'s per-hop overhead;
2. CPU: `client → envoy → envoy (direct_response)`, the proxy's CPU time per
   request at several rates.

    python benchmarks/envoy_floor.py [--rate 200] [--rounds 4]

Results belong in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshsim.bench.generator import Segment, SegmentResult, Target, new_histogram  # noqa: E402
from meshsim.bench.worker import GeneratorProcess  # noqa: E402
from meshsim.control.plan import free_ports  # noqa: E402
from meshsim.runtime.local import PROXY_ENV, envoy_binary  # noqa: E402

T_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def envoy(listen: int, route: dict[str, Any], upstream: int | None) -> subprocess.Popen[bytes]:
    def addr(port: int) -> dict[str, Any]:
        return {"socket_address": {"address": "127.0.0.1", "port_value": port}}

    hcm = {
        "@type": T_HCM,
        "stat_prefix": "floor",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
        "http_filters": [{"name": "router", "typed_config": {"@type": T_ROUTER}}],
    }
    config: dict[str, Any] = {
        "admin": {"address": addr(free_ports(1)[0])},
        "static_resources": {
            "listeners": [
                {
                    "name": "in",
                    "address": addr(listen),
                    "filter_chains": [{"filters": [{"name": "hcm", "typed_config": hcm}]}],
                }
            ],
            "clusters": []
            if upstream is None
            else [
                {
                    "name": "up",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "up",
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": addr(upstream)}}]}
                        ],
                    },
                }
            ],
        },
    }
    argv = [envoy_binary(), "--config-yaml", json.dumps(config), "--concurrency", "1"]
    return subprocess.Popen(argv + ["--disable-hot-restart", "-l", "error"])


def cpu_s(proc: subprocess.Popen[bytes]) -> float:
    t = psutil.Process(proc.pid).cpu_times()
    return float(t.user + t.system)


FORWARD = {"match": {"prefix": "/"}, "route": {"cluster": "up", "timeout": "0s"}}
ANSWER = {
    "match": {"prefix": "/"},
    "direct_response": {"status": 200, "body": {"inline_string": '{"id": 1}'}},
}


async def latency(gen: GeneratorProcess, rate: float, rounds: int) -> None:
    app, server, client = free_ports(3)
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV} | {"PORT": str(app)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "sample_services.product"], env=env),
        envoy(server, FORWARD, app),
        envoy(client, FORWARD, server),
    ]
    try:
        time.sleep(2)
        targets = {
            "direct": Target(f"http://127.0.0.1:{app}/products/1"),
            "two envoys": Target("http://product/products/1", proxy=f"http://127.0.0.1:{client}"),
        }
        results: dict[str, list[SegmentResult]] = {k: [] for k in targets}
        for r in range(rounds):
            for name in list(targets) if r % 2 == 0 else list(reversed(targets)):
                results[name].append(await gen.run(Segment(targets[name], rate, 3, warmup_s=0.5)))
        print(f"\nlatency at {rate:g} rps, {rounds} interleaved rounds of 3 s:")
        print("| path | p50 ms | p90 ms | p99 ms | added p50 per round, ms |")
        print("|---|---:|---:|---:|---|")
        for name, rs in results.items():
            hist = new_histogram()
            for res in rs:
                hist.add(res.latency)
            added = [
                f"{a.percentile_ms(50) - d.percentile_ms(50):+.2f}"
                for a, d in zip(rs, results["direct"], strict=True)
            ]
            p = [hist.get_value_at_percentile(q) / 1000 for q in (50, 90, 99)]
            extra = ", ".join(added) if name != "direct" else "–"
            print(f"| {name} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | {extra} |")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


async def cpu(gen: GeneratorProcess) -> None:
    server, client = free_ports(2)
    proxy, answer = envoy(client, FORWARD, server), envoy(server, ANSWER, None)
    try:
        time.sleep(1.5)
        target = Target(f"http://127.0.0.1:{client}/products/1")
        print("\nCPU per request (µs):")
        print("| rate | proxying Envoy | answering Envoy | generator |")
        print("|---:|---:|---:|---:|")
        for rate in (200, 500, 1000, 2000):
            await gen.run(Segment(target, rate, 0.5, warmup_s=0))
            c0 = (cpu_s(proxy), cpu_s(answer))
            res = await gen.run(Segment(target, rate, 3, warmup_s=0))
            c1 = (cpu_s(proxy), cpu_s(answer))
            n = res.scheduled
            print(
                f"| {rate} | {1e6 * (c1[0] - c0[0]) / n:.0f} | {1e6 * (c1[1] - c0[1]) / n:.0f} "
                f"| {1e6 * res.cpu_s / n:.0f} |",
                flush=True,
            )
    finally:
        for proc in (proxy, answer):
            proc.terminate()
            proc.wait()


async def main(args: argparse.Namespace) -> None:
    gen = GeneratorProcess(Path(os.devnull))
    try:
        await latency(gen, args.rate, args.rounds)
        await cpu(gen)
    finally:
        await gen.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--rounds", type=int, default=4)
    asyncio.run(main(p.parse_args()))
