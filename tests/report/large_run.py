"""A synthetic long run on disk: many phases, many requests, and optionally
every request's spans, written the way meshsim writes them (records as JSON
lines from several Locust processes, spans as Zipkin batches). Used by the
report's memory test and by benchmarks/report_memory.py.

    python -m tests.report.large_run DIR --requests 1000000 --phases 20
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from tests.report.runs import T0, phase_events, scenario_yaml

ENDPOINTS = [
    ("browse", "GET /products"),
    ("view_product", "GET /products/{id}"),
    ("view_user", "GET /users/{id}"),
    ("place_order", "POST /orders"),
]
INSTANCES = ["product-v1-0", "product-v1-1", "product-v2-0", "order-v1-0", "user-v1-0"]


def write_large_run(
    path: Path,
    *,
    requests: int,
    phases: int = 20,
    rps: float = 100.0,
    traces: bool = False,
    files: int = 2,
    seed: int = 1,
) -> Path:
    """A run of `requests` requests at `rps`, split evenly into `phases`
    phases, each with two expectations; with `traces`, four spans a request
    (ingress, order inbound, order → product, product inbound)."""
    rng = random.Random(seed)
    duration = requests / rps
    per_phase = duration / phases
    plan = [
        (f"phase-{i:02d}", per_phase, ["error_rate < 5%", "p99 < 500ms"]) for i in range(phases)
    ]
    path.mkdir(parents=True, exist_ok=True)
    run = {"run_id": "large", "scenario": "demo", "runtime": "local"}
    (path / "run.json").write_text(json.dumps(run))
    (path / "scenario.yaml").write_text(scenario_yaml(plan))
    events = phase_events([(name, d) for name, d, _ in plan])
    (path / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    records = path / "records"
    records.mkdir(exist_ok=True)
    outs = [(records / f"requests-{1000 + i}.jsonl").open("w") for i in range(files)]
    spans = (path / "traces.jsonl").open("w") if traces else None
    # one batch per proxy, as each Envoy sends its own spans
    batches: dict[int, list[str]] = {i: [] for i in range(4)}
    try:
        for n in range(requests):
            t = T0 + 1.0 + n / rps
            journey, name = ENDPOINTS[n % 4]
            ok = rng.random() > 0.01
            latency = int(rng.lognormvariate(9, 0.8))  # ~8 ms median, a long tail
            record = {
                "t": round(t, 6),
                "journey": journey,
                "name": name,
                "status": 200 if ok else 503,
                "ok": ok,
                "latency_us": latency,
                "instance": INSTANCES[n % 5],
                "upstreams": ["user-v1-0", "product-v1-1"] if journey == "place_order" else [],
                "error": None if ok else rng.choice(["HTTP 503", "HTTP 504"]),
                "cohort": None,
            }
            outs[n % files].write(json.dumps(record, separators=(",", ":")) + "\n")
            if spans is not None:
                for i, span in enumerate(_trace(n, int(t * 1e6), latency)):
                    batches[i].append(span)
                    if len(batches[i]) == 20:
                        spans.write("[" + ",".join(batches[i]) + "]\n")
                        batches[i].clear()
        for batch in batches.values() if spans is not None else ():
            if batch:
                spans.write("[" + ",".join(batch) + "]\n")  # type: ignore[union-attr]
    finally:
        for out in outs:
            out.close()
        if spans is not None:
            spans.close()
    return path


def _trace(n: int, start: int, duration: int) -> list[str]:
    """Four spans of one request, about 2.9 KB as Envoy sends them (its tags)."""
    trace = f"{n:016x}"
    tags = {
        "http.method": "GET",
        "http.url": "http://shop/products/3",
        "http.status_code": "200",
        "response_flags": "-",
        "upstream_cluster": "outbound|80|v1|product.default.svc.cluster.local",
        "node_id": "sidecar~127.0.0.1~product-v1-0.default~default.svc.cluster.local",
        "guid:x-request-id": "6b5c9f2e-3f8a-4a53-9a3e-5f0b2a1c9d7e",
        "user_agent": "python/gevent-http-client-1.5.5",
        "peer.address": "127.0.0.1",
        "downstream_cluster": "-",
        "component": "proxy",
    }
    spans = []
    parent = None
    for i, (service, kind) in enumerate(
        [
            ("istio-ingressgateway", "SERVER"),
            ("order", "SERVER"),
            ("order", "CLIENT"),
            ("product", "SERVER"),
        ]  # fmt: skip
    ):
        span = {
            "traceId": trace,
            "id": f"{n:012x}{i:04x}",
            "kind": kind,
            "name": "ingress",
            "timestamp": start + 100 * i,
            "duration": max(1, duration - 200 * i),
            "localEndpoint": {"serviceName": service, "ipv4": "127.0.0.1"},
            "tags": {**tags, "meshsim.proxy": f"{service}-v1-0"},
        }
        if parent:
            span["parentId"] = parent
        parent = span["id"]
        spans.append(json.dumps(span, separators=(",", ":")))
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--phases", type=int, default=20)
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--traces", action="store_true")
    args = parser.parse_args()
    write_large_run(
        args.dir, requests=args.requests, phases=args.phases, rps=args.rps, traces=args.traces
    )


if __name__ == "__main__":
    main()
