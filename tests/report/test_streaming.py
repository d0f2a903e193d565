"""The streaming report builder gives the report the eager one gave.

`tests/report/eager` is the builder as it was before it streamed (every
record and span in memory); each run here is built by both and the two
report.json documents must be equal, key for key. The runs: synthetic ones
made to be awkward (records out of order across several files, ties between
error messages, a settle, cohorts, a run killed mid-phase, traces), and a
run recorded from a real mesh (tests/report/fixtures/): `meshsim up
scenarios/instance-crash.yaml --time-scale 0.5` on the local runtime, its
run.json, phases.jsonl, records, edges.json, plan.json and scenario.yaml
whole, and of its traces.jsonl (14 MB) the spans of the traces whose id's
CRC-32 is a multiple of 25, to keep the archive small (77 KB).
"""

from __future__ import annotations

import json
import random
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from meshsim.report import build_report
from tests.report.eager.build import build_report as eager_report
from tests.report.runs import T0, RunDir, phase_events, request

FIXTURES = Path(__file__).with_name("fixtures")
PHASES = [
    ("steady", 10.0, ["error_rate < 1%", "p99 < 50ms"]),
    ("crash", 10.0, ["error_rate < 5%", "endpoint(GET /products).p50 < 20ms"]),
    ("after", 10.0, ["error_rate < 1%"]),
]
NAMES = ["GET /products", "GET /products/{id}", "POST /orders", "GET /users/{id}"]
ERRORS = ["HTTP 503", "HTTP 504", "ConnectionRefusedError", None]


def _same(run: Path) -> dict[str, Any]:
    new = build_report(run).to_dict()
    old = eager_report(run).to_dict()
    for key in set(new) | set(old):
        assert new.get(key) == old.get(key), key
    return new


def _records(rng: random.Random, start: float, end: float, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        ok = rng.random() > 0.05
        out.append(
            request(
                rng.uniform(start, end),
                name=rng.choice(NAMES),
                journey=rng.choice(["browse", "place_order", None]),
                # from 1 µs to beyond the histogram's 60 s ceiling
                latency_us=70_000_000 if rng.random() < 0.001 else int(rng.lognormvariate(8, 2)),
                ok=ok,
                status=200 if ok else rng.choice([503, 504, 0]),
                error=None if ok else rng.choice(ERRORS),
                instance=rng.choice(["product-v1-0", "product-v2-0", "order-v1-0", None]),
                upstreams=rng.sample(["user-v1-0", "product-v1-1", "shipping-v1-0"], 2),
                cohort=rng.choice(["beta", "staff", None, None]),
            )
        )
    return out


def _write_split(run: Path, records: list[dict[str, Any]], files: int, rng: random.Random) -> None:
    """The records over several files, each in an order of its own (as
    Locust processes write them: by when the answer came)."""
    records_dir = run / "records"
    for old in records_dir.glob("*.jsonl"):
        old.unlink()
    parts: list[list[dict[str, Any]]] = [[] for _ in range(files)]
    for r in records:
        parts[rng.randrange(files)].append(r)
    for i, part in enumerate(parts):
        part.sort(key=lambda r: r["t"] + r["latency_us"] / 1e6)
        text = "".join(json.dumps(r) + "\n" for r in part)
        (records_dir / f"requests-{100 + i}.jsonl").write_text(text)


def _spans(rng: random.Random, traces: int) -> list[list[dict[str, Any]]]:
    """Zipkin batches: per trace an ingress root and a child or two, the
    batches of different proxies interleaved as the collector receives them."""
    batches: list[list[dict[str, Any]]] = [[] for _ in range(7)]
    for i in range(traces):
        trace_id = f"{i:016x}"
        start = int((T0 + rng.uniform(0, 32)) * 1e6)
        duration = rng.choice([5_000, 5_000, rng.randrange(1, 90_000)])  # ties too
        root = _span(trace_id, "r" + trace_id, None, start, duration, "istio-ingressgateway")
        batches[rng.randrange(7)].append(root)
        offset = 0
        for j in range(rng.randrange(1, 3)):
            child_start = start + offset + 100
            length = rng.randrange(50, max(51, duration // 2))
            child = _span(trace_id, f"c{j}{trace_id}", root["id"], child_start, length, "order")
            batches[rng.randrange(7)].append(child)
            offset += length
    return [b for b in batches if b]


def _span(trace: str, sid: str, parent: str | None, start: int, dur: int, svc: str) -> Any:
    span: dict[str, Any] = {
        "traceId": trace,
        "id": sid,
        "kind": "SERVER",
        "timestamp": start,
        "duration": dur,
        "localEndpoint": {"serviceName": svc},
        "tags": {
            "http.method": "GET",
            "http.url": "http://shop/products",
            "http.status_code": "200",
        },
    }
    if parent:
        span["parentId"] = parent
    return span


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_synthetic_run_reports_the_same(run_dir: RunDir, seed: int) -> None:
    rng = random.Random(seed)
    records = _records(rng, -0.5, 32.0, 3_000)
    events = phase_events([(n, d) for n, d, _ in PHASES])
    events[3]["settle_s"] = 2.0  # phase "crash" is judged from 2 s after its start
    run = run_dir.write(phases=PHASES, records=[], events=events)
    _write_split(run, records, 3, rng)
    lines = [json.dumps(batch) + "\n" for batch in _spans(rng, 400)]
    (run / "traces.jsonl").write_text("".join(lines))
    data = _same(run)
    assert data["totals"]["requests"] > 2_500
    assert data["phases"][1]["critical_path"]["traced"] > 0


def test_a_killed_run_reports_the_same(run_dir: RunDir) -> None:
    rng = random.Random(7)
    events = phase_events([(n, d) for n, d, _ in PHASES], killed_in=1)
    run = run_dir.write(phases=PHASES, records=[], events=events)
    _write_split(run, _records(rng, 0.0, 17.0, 1_500), 2, rng)
    data = _same(run)
    assert data["interrupted"] is True


def test_a_run_without_phase_events_reports_the_same(run_dir: RunDir) -> None:
    rng = random.Random(9)
    run = run_dir.write(phases=PHASES, records=[], events=[])
    _write_split(run, _records(rng, 3.0, 9.0, 300), 2, rng)
    _same(run)


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.tar.xz"))


@pytest.mark.parametrize("archive", _fixtures(), ids=lambda p: p.name)
def test_a_recorded_run_reports_the_same(tmp_path: Path, archive: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = _same(run)
    assert data["totals"]["requests"] > 100
    shutil.rmtree(run)
