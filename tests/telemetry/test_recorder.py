"""The edge recorder's snapshots and deltas, with scripted Envoy stats instead
of a mesh: a phase's edges, and for a phase with a settle its settled edges
(settle point → phase end), as edges.json holds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths
from meshsim.telemetry.prometheus import Buckets, ProxyMetrics
from meshsim.telemetry.recorder import EdgeRecorder, Snapshot

PLAN = build_plan({"product": {"v1": 2}, "order": {"v1": 1}}, 0)
CONFIGS = compile_mesh(PLAN, PolicyState.initial(), Paths("/tmp/xds"))
C = "cluster.outbound_80__product."


def order_stats(answered: int, failed: int) -> dict[str, int]:
    """order's sidecar after `answered` calls to product, `failed` of them 503."""
    return {
        C + "upstream_rq_completed": answered,
        C + "upstream_rq_total": answered,
        C + "upstream_rq_2xx": answered - failed,
        C + "upstream_rq_5xx": failed,
    }


class FakeMetrics:
    """Scrapes that return order's latency histogram, cumulative, in turn."""

    def __init__(self, histograms: list[dict[float, int]]) -> None:
        self.histograms = histograms
        self.calls: list[tuple[str | None, str | None]] = []

    async def scrape(self, mark: str | None = None, *, settled: str | None = None) -> Any:
        self.calls.append((mark, settled))
        counts = self.histograms.pop(0)
        total = sum(le * n for le, n in counts.items())
        latency = {"outbound_80__product": Buckets(dict(counts), total)}
        return {"order-v1-0": ProxyMetrics(latency=latency)}


class ScriptedRecorder(EdgeRecorder):
    """An EdgeRecorder whose snapshots come from a list, not from Envoy."""

    def __init__(self, path: Path, snapshots: list[Snapshot], metrics: Any = None) -> None:
        super().__init__(PLAN, {"order-v1-0": 1}, path, None, metrics=metrics)  # type: ignore[arg-type]
        self.snapshots = snapshots

    async def snapshot(self) -> Snapshot:
        return self.snapshots.pop(0)


def _order_product(edges: list[dict[str, Any]]) -> dict[str, Any]:
    (edge,) = [e for e in edges if (e["source"], e["destination"]) == ("order", "product")]
    return edge


async def test_a_settled_phase_gets_the_edges_from_its_settle_point(tmp_path: Path) -> None:
    path = tmp_path / "edges.json"
    snapshots = [
        {"order-v1-0": order_stats(0, 0)},  # begin
        {"order-v1-0": order_stats(100, 0)},  # end of steady
        {"order-v1-0": order_stats(150, 8)},  # crash's settle point: 8 calls failed by then
        {"order-v1-0": order_stats(400, 9)},  # end of crash: 1 more after settling
    ]
    metrics = FakeMetrics([{2.0: 0}, {2.0: 100}, {2.0: 140, 50.0: 10}, {2.0: 390, 50.0: 10}])
    recorder = ScriptedRecorder(path, snapshots, metrics)
    await recorder.begin(CONFIGS)
    steady = await recorder.phase_done("steady", CONFIGS)
    await recorder.settled("crash", CONFIGS)
    crash = await recorder.phase_done("crash", CONFIGS)

    assert _order_product(steady)["requests"] == 100
    whole = _order_product(crash)
    assert (whole["requests"], whole["errors"]) == (300, 9)
    data = json.loads(path.read_text())
    assert list(data) == ["phases", "settled", "policies", "warnings"]
    assert set(data["settled"]) == {"crash"}  # steady had no settle
    after = _order_product(data["settled"]["crash"])
    assert (after["requests"], after["errors"], after["error_rate"]) == (250, 1, 0.004)
    # latency from the settle point's scrape: the 10 slow calls came before it
    assert after["latency_histogram"]["buckets"] == {"2": 250}
    assert _order_product(data["phases"]["crash"])["latency_histogram"]["buckets"] == {
        "2": 290,
        "50": 10,
    }
    assert metrics.calls == [("begin", None), ("steady", None), (None, "crash"), ("crash", None)]


async def test_without_a_settle_edges_json_keeps_its_shape(tmp_path: Path) -> None:
    path = tmp_path / "edges.json"
    snapshots = [{"order-v1-0": order_stats(0, 0)}, {"order-v1-0": order_stats(10, 0)}]
    recorder = ScriptedRecorder(path, snapshots)
    await recorder.begin(CONFIGS)
    await recorder.phase_done("steady", CONFIGS)
    assert list(json.loads(path.read_text())) == ["phases", "policies", "warnings"]


async def test_a_settle_point_is_for_its_own_phase_only(tmp_path: Path) -> None:
    """A settle snapshot whose phase then ends without phase_done (a runner
    cut short between the two) never leaks into the next phase."""
    path = tmp_path / "edges.json"
    snapshots = [
        {"order-v1-0": order_stats(0, 0)},
        {"order-v1-0": order_stats(5, 0)},  # a's settle point
        {"order-v1-0": order_stats(10, 0)},  # b ends
        {"order-v1-0": order_stats(20, 0)},  # c ends: no settle of its own
    ]
    recorder = ScriptedRecorder(path, snapshots)
    await recorder.begin(CONFIGS)
    await recorder.settled("a", CONFIGS)
    await recorder.phase_done("b", CONFIGS)
    await recorder.phase_done("c", CONFIGS)
    assert recorder.settled_phases == {}


async def test_proxies_missing_at_the_settle_point_are_named(tmp_path: Path) -> None:
    path = tmp_path / "edges.json"
    snapshots = [
        {"order-v1-0": order_stats(0, 0)},
        {},  # order's admin port did not answer at the settle point
        {"order-v1-0": order_stats(10, 0)},
    ]
    recorder = ScriptedRecorder(path, snapshots)
    await recorder.begin(CONFIGS)
    await recorder.settled("crash", CONFIGS)
    await recorder.phase_done("crash", CONFIGS)
    assert recorder.settled_phases == {"crash": []}
    assert any("order-v1-0 at the settle point" in w for w in recorder.warnings)
