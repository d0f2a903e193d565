"""The dashboard's state from a run directory as it grows, and from a finished one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from meshsim.dashboard.reading import looks_live
from meshsim.dashboard.state import RunState
from meshsim.errors import UsageError
from meshsim.report import build_report
from meshsim.rundir import RunDir
from tests.dashboard.runs import LiveRun
from tests.report.runs import T0, phase_events, steady
from tests.report.runs import RunDir as FakeRun

PHASES = [
    ("steady", 10.0, ["error_rate < 1%"]),
    ("abort", 10.0, ["error_rate < 1%", "edge(order->product).error_rate < 1%"]),
]
EDGE = "outbound_80__product"


def _live(tmp_path: Path) -> tuple[LiveRun, list[float], RunState]:
    run = LiveRun(tmp_path / "run", PHASES)
    clock = [T0]
    return run, clock, RunState(run.path, live=True, clock=lambda: clock[0])


def test_a_live_run_moves_through_its_phases_and_judges_each_as_it_ends(tmp_path: Path) -> None:
    run, clock, state = _live(tmp_path)
    state.refresh()
    assert [p["status"] for p in state.state()["phases"]] == ["pending", "pending"]

    run.plan()
    run.event("phase_start", 1.0, phase="steady", index=0, planned_s=10.0)
    run.requests(1.0, 6.0)
    clock[0] = T0 + 6.0
    state.refresh()
    now = state.state()
    assert now["live"] is True and now["run"]["status"] == "running"
    assert now["current_phase"] == 0
    assert [p["status"] for p in now["phases"]] == ["running", "pending"]
    assert now["phases"][0]["expectations"][0]["status"] == "pending"
    assert {n["id"] for n in now["nodes"]} == {"order-v1", "product-v1"}
    assert sum(p["requests"] for p in now["series"]) == 50

    run.requests(6.0, 11.0)
    run.event("phase_end", 11.0, phase="steady", index=0, status="completed")
    run.event("phase_start", 11.0, phase="abort", index=1, planned_s=10.0)
    clock[0] = T0 + 11.2
    state.refresh()
    now = state.state()
    # ended, but edges.json has not the phase yet: not judged, the next one runs
    assert now["current_phase"] == 1
    assert now["phases"][0]["expectations"][0]["status"] == "pending"

    run.edges({"steady": [{"source": "order", "destination": "product", "requests": 100}]})
    run.requests(11.0, 12.0, ok=False)
    clock[0] = T0 + 12.5
    state.refresh()
    now = state.state()
    assert [p["status"] for p in now["phases"]] == ["passed", "running"]
    assert now["phases"][0]["expectations"][0]["status"] == "pass"
    assert now["phases"][0]["ended_s"] == 11.0


def test_an_edge_turns_red_when_its_fault_phase_starts(tmp_path: Path) -> None:
    run, clock, state = _live(tmp_path)
    run.plan()
    run.event("phase_start", 1.0, phase="steady", index=0, planned_s=10.0)
    for t in range(1, 11, 2):  # one scrape every 2 s, 20 calls each
        run.scrape(float(t), "order-v1-0", EDGE, 20, 0)
    clock[0] = T0 + 10.0
    state.refresh()
    edge = {e["id"]: e for e in state.state()["edges"]}["order->product"]
    assert edge["error_rate"] == 0.0 and edge["rps"] == pytest.approx(8.0)
    assert edge["p99_ms"] is not None

    run.event("phase_start", 11.0, phase="abort", index=1, planned_s=10.0)
    for t in range(11, 21, 2):
        run.scrape(float(t), "order-v1-0", EDGE, 20, 10)
    clock[0] = T0 + 20.0
    state.refresh()
    edge = {e["id"]: e for e in state.state()["edges"]}["order->product"]
    assert edge["error_rate"] == 0.5
    # the replay shows the edge as it was before the fault
    before = {e["id"]: e for e in state.state(t=9.0)["edges"]}["order->product"]
    assert before["error_rate"] == 0.0


def test_a_failed_expectation_shows_failed(tmp_path: Path) -> None:
    run, clock, state = _live(tmp_path)
    run.event("phase_start", 1.0, phase="steady", index=0, planned_s=10.0)
    run.requests(1.0, 11.0, ok=False)
    run.event("phase_end", 11.0, phase="steady", index=0, status="completed")
    run.edges({"steady": []})
    clock[0] = T0 + 15.0
    state.refresh()
    steady_phase = state.state()["phases"][0]
    assert steady_phase["status"] == "failed"
    assert steady_phase["expectations"][0]["status"] == "fail"
    assert steady_phase["expectations"][0]["observed"] == 1.0


def test_a_finished_run_replays_and_agrees_with_its_report(tmp_path: Path) -> None:
    run_dir = FakeRun(tmp_path / "run")
    records = steady(1.0, 11.0) + steady(11.0, 21.0, ok=False)
    path = run_dir.write(phases=PHASES, records=records, edges={"phases": {}})
    state = RunState(path)
    state.refresh()
    report = build_report(path)
    end = state.state()
    assert end["live"] is False and end["run"]["status"] == "completed"
    for phase, reported in zip(end["phases"], report.phases, strict=True):
        statuses = [e["status"] for e in phase["expectations"]]
        assert statuses == ["pass" if e.passed else "fail" for e in reported.expectations]
    assert [p["status"] for p in end["phases"]] == ["passed", "failed"]
    # the slider: before the second phase ended its expectations are not judged yet
    middle = state.state(t=15.0)
    assert [p["status"] for p in middle["phases"]] == ["passed", "running"]
    assert middle["current_phase"] == 1 and middle["t"] == 15.0
    assert len(middle["series"]) == 16
    start = state.state(t=0.0)
    assert [p["status"] for p in start["phases"]] == ["pending", "pending"]
    # a time past the end is the end
    assert state.state(t=1e9)["t"] == end["t"]


def test_an_interrupted_run_replays_its_phases_as_far_as_they_went(tmp_path: Path) -> None:
    run_dir = FakeRun(tmp_path / "run")
    events = phase_events([(n, d) for n, d, _ in PHASES], killed_in=1)
    path = run_dir.write(phases=PHASES, records=steady(1.0, 14.0), events=events)
    state = RunState(path)
    state.refresh()
    end = state.state()
    assert end["run"]["status"] == "interrupted"
    assert [p["status"] for p in end["phases"]] == ["passed", "failed"]
    # no run_end: live while its files are fresh, a replay once they went quiet
    assert looks_live(RunDir(path), now=time.time())
    assert not looks_live(RunDir(path), now=time.time() + 60)


def test_not_a_run_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a meshsim run directory"):
        RunState(tmp_path)
    with pytest.raises(UsageError, match="no such directory"):
        RunState(tmp_path / "missing")


def test_a_real_run_directory(tmp_path: Path) -> None:
    """The report's fixture of a real run (instance-crash): the dashboard's
    verdicts are the report's, the killed instance is down while it was."""
    fixture = Path(__file__).parents[1] / "report" / "fixtures" / "instance-crash.tar.xz"
    shutil.unpack_archive(fixture, tmp_path)
    path = tmp_path / "instance-crash"
    state = RunState(path)
    state.refresh()
    report = build_report(path)
    end = state.state()
    for phase, reported in zip(end["phases"], report.phases, strict=True):
        assert [e["status"] for e in phase["expectations"]] == [
            "pass" if e.passed else "fail" for e in reported.expectations
        ]
    crash = end["phases"][1]
    during = state.state(t=crash["started_s"] + 1.0)
    product = {n["id"]: n for n in during["nodes"]}["product-v1"]
    assert product["down"] == ["product-v1-1"]
    assert {e["id"] for e in during["edges"]} >= {"order->product", "istio-ingressgateway->order"}


FAULT_SCENARIO = """name: demo
phases:
  - name: calm
    duration: 10s
  - name: abort
    duration: 10s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: product}
        spec:
          hosts: [product]
          http:
            - fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
              route: [{destination: {host: product}}]
"""


def test_a_fault_injected_in_the_callers_sidecar_counts_on_its_edge(tmp_path: Path) -> None:
    """Istio puts a VirtualService's fault in the caller's sidecar: the aborted
    calls never reach a cluster, only the fault counter (as in edges.json)."""
    run, clock, state = _live(tmp_path)
    (run.path / "scenario.yaml").write_text(FAULT_SCENARIO)
    run.plan()
    run.event("phase_start", 1.0, phase="calm", index=0, planned_s=10.0)
    run.event("phase_end", 11.0, phase="calm", index=0, status="completed")
    run.event("phase_start", 11.0, phase="abort", index=1, planned_s=10.0)
    aborted = 0
    for t in range(11, 21, 2):  # 10 calls reach product, 10 more are aborted in order's sidecar
        aborted += 10
        run.scrape(float(t), "order-v1-0", EDGE, 10, 0, faults={"outbound": {"aborted": aborted}})
    clock[0] = T0 + 20.0
    state.refresh()
    edge = {e["id"]: e for e in state.state()["edges"]}["order->product"]
    assert edge["error_rate"] == 0.5
    assert edge["rps"] == pytest.approx(8.0)


def test_the_slowest_recent_traces_of_a_real_run(tmp_path: Path) -> None:
    fixture = Path(__file__).parents[1] / "report" / "fixtures" / "instance-crash.tar.xz"
    shutil.unpack_archive(fixture, tmp_path)
    state = RunState(tmp_path / "instance-crash")
    state.refresh()
    at = state.state()["phases"][1]["ended_s"]
    slowest = state.state(t=at)["slowest"]
    assert 0 < len(slowest) <= 5
    durations = [tr["duration_ms"] for tr in slowest]
    assert durations == sorted(durations, reverse=True)
    for tr in slowest:  # started in the 30 s before `at` and ended by then
        assert at - 30 <= tr["start_s"] and tr["start_s"] + tr["duration_ms"] / 1000 <= at
        root = tr["spans"][0]
        assert root["depth"] == 0 and root["duration_ms"] == tr["duration_ms"]
    assert state.state(t=0.0)["slowest"] == []
