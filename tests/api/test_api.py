"""The Python API without a mesh: imports, report tables, events, plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import meshsim
from meshsim.api import CallbackEvents, RunEvent, RunReport, load_report
from meshsim.events import EventBus, Progress, RunInfo
from meshsim.frames import edge_rows, expectation_rows, phase_rows, served_rows, timeline_rows
from tests.report.runs import RunDir, request, steady

PHASES = [
    ("baseline", 10.0, ["error_rate < 1%", "p99 < 300ms"]),
    ("canary", 10.0, ["error_rate < 1%", "edge(order->product).error_rate < 1%"]),
]
EDGES = {
    "phases": {
        "canary": [
            {"source": "order", "destination": "product", "destination_version": "v2",
             "requests": 40, "errors": 2, "retries": 3, "no_cluster": 1, "unclassified": 0,
             "denied_by": {}},
            {"source": "istio-ingressgateway", "destination": "order",
             "destination_version": "v1", "requests": 100, "errors": 0, "retries": 0},
        ]
    }
}  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    return RunDir(tmp_path / "run")


def _run(run_dir: RunDir) -> RunReport:
    canary = [
        request(11 + i / 10, latency_us=3_000, instance=f"product-v{1 + i % 2}-0", ok=i != 7)
        for i in range(100)
    ]
    path = run_dir.write(
        phases=PHASES, records=[*steady(1, 11, latency_us=2_000), *canary], edges=EDGES
    )
    return load_report(path)


def test_importing_meshsim_loads_no_terminal_load_or_plotting_library() -> None:
    code = (
        "import sys, meshsim, meshsim.api, meshsim.explain, meshsim.frames, meshsim.plots\n"
        "meshsim.run, meshsim.RunReport, meshsim.plot_timeline\n"
        "heavy = ('rich', 'locust', 'gevent', 'pandas', 'matplotlib', 'typer')\n"
        "print([m for m in sys.modules if m.split('.')[0] in heavy])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_public_names_resolve() -> None:
    for name in meshsim.__all__:
        assert getattr(meshsim, name) is not None, name
    assert "run" in dir(meshsim)
    with pytest.raises(AttributeError):
        meshsim.no_such_name  # noqa: B018


def test_rows_follow_the_report(run_dir: RunDir) -> None:
    result = _run(run_dir)
    assert result.verdict == "fail"  # 1 failure in 100 is not < 1%
    phases = phase_rows(result.report)
    assert [r["phase"] for r in phases] == ["baseline", "canary"]
    assert phases[0]["requests"] == 100 and phases[0]["p50_ms"] == pytest.approx(2.0, rel=0.01)
    assert phases[1]["failures"] == 1 and phases[1]["passed"] is False
    timeline = timeline_rows(result.report)
    assert timeline[0]["phase"] is None and timeline[1]["phase"] == "baseline"
    assert timeline[12]["phase"] == "canary" and timeline[12]["rps"] == 10.0
    edges = edge_rows(result.report)
    assert edges[0] == edges[0] | {"phase": "canary", "source": "order", "error_rate": 0.05}
    assert "denied_by" not in edges[0]  # nested values stay in report.json
    expectations = expectation_rows(result.report)
    assert [(e["phase"], e["passed"]) for e in expectations] == [
        ("baseline", True), ("baseline", True), ("canary", False), ("canary", False)
    ]  # fmt: skip
    served = {(r["phase"], r["version"]): r["share"] for r in served_rows(result.report)}
    assert served[("canary", "v2")] == 0.5
    assert len(result.edges) == 2 and result.phase("canary").name == "canary"
    assert "fail" in repr(result)


def test_dataframes(run_dir: RunDir) -> None:
    pytest.importorskip("pandas")
    frames = _run(run_dir).to_dataframes()
    assert set(frames) == {"phases", "timeline", "edges", "expectations", "served", "journeys"}
    assert (
        frames["journeys"].set_index(["phase", "journey"]).loc[("canary", "browse"), "failures"]
        == 1
    )
    phases = frames["phases"]
    assert list(phases["phase"]) == ["baseline", "canary"]
    assert phases.loc[1, "failures"] == 1
    edges = frames["edges"]
    assert list(edges.columns[:4]) == ["phase", "source", "destination", "destination_version"]
    assert edges["requests"].sum() == 140
    # the report's edge columns, there even for an edge that lacks them (older edges.json)
    assert {"no_cluster", "unclassified"} <= set(edges.columns)
    assert edges.set_index("source").loc["order", "no_cluster"] == 1
    assert frames["timeline"]["requests"].sum() == 200


def test_plots_draw_without_a_display(run_dir: RunDir) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = _run(run_dir)
    ax = meshsim.plot_timeline(result)
    assert [line.get_label() for line in ax.get_lines()][:2] == ["p50", "p99"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["p50", "p99", "error rate"]
    assert [t.get_text() for t in ax.texts] == ["baseline", "canary"]
    assert ax.right_ax.get_lines()[0].get_label() == "error rate"  # type: ignore[attr-defined]
    graph = meshsim.plot_service_graph(result, "canary")  # meshsim.topology's, by service
    labels = {t.get_text() for t in graph.texts}
    assert {"order", "product", "istio-ingressgateway", "user", "shipping"} <= labels
    assert "no traffic" in labels  # declared, idle in this phase (order → user)
    assert any("5.0% err" in label for label in labels)  # order → product: 2 of 40
    versions = meshsim.plot_service_graph(result, "canary", by_version=True)
    assert "40 req, 2 err, 3 retries" in {t.get_text() for t in versions.texts}
    empty = meshsim.plot_service_graph(result, "baseline", by_version=True)
    assert "no edge data" in {t.get_text() for t in empty.texts}
    plt.close("all")


def test_callback_events_say_what_happened(tmp_path: Path) -> None:
    got: list[RunEvent] = []
    bus = EventBus([CallbackEvents(got.append)])
    info = RunInfo("r1", tmp_path, "demo", "local", ["user-v1-0"], "http://127.0.0.1:1")
    bus.run_started(info)
    bus.phase_started("baseline", 0, 3.0)
    bus.progress(Progress("baseline", 0, 1.0, 3.0, 10, 1, 10.0, 12.5))
    bus.policy_applied("baseline", ["VirtualService/product"], 0.012)
    bus.warning("careful")
    bus.phase_settled("baseline", 0, 0.5)
    bus.run_finished(info, "completed", None)
    assert [e.kind for e in got] == [
        "run_started", "phase_started", "progress", "policy_applied", "warning",
        "phase_settled", "run_finished",
    ]  # fmt: skip
    assert got[2].data["requests"] == 10 and "errors 10.0%" in str(got[2])
    assert str(got[3]) == "baseline: VirtualService/product in force in every Envoy after 12 ms"
    assert got[4].data == {"message": "careful"}
    assert got[5].data == {"phase": "baseline", "index": 0, "settle_s": 0.5}
    assert "settled after 0.5s" in str(got[5])


def test_a_failing_callback_never_breaks_a_run(tmp_path: Path) -> None:
    def boom(event: RunEvent) -> None:
        raise RuntimeError("display broke")

    seen: list[str] = []
    bus = EventBus([CallbackEvents(boom), CallbackEvents(lambda e: seen.append(str(e)))])
    bus.step("starting")  # logged, not raised
    bus.step("still going")
    # the handlers after the broken one still get every event
    assert seen == ["starting", "still going"]


def test_run_rejects_a_bad_time_scale() -> None:
    with pytest.raises(ValueError):
        meshsim.run("scenarios/baseline.yaml", time_scale=0)


def test_report_json_round_trip(run_dir: RunDir) -> None:
    data: dict[str, Any] = _run(run_dir).to_dict()
    assert json.loads(json.dumps(data))["phases"][1]["edges"][0]["requests"] == 40
