from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshsim.errors import MeshsimError, UsageError
from meshsim.report import SCHEMA_VERSION, build_report
from tests.report.runs import T0, RunDir, phase_events, request, steady

PHASES = [
    ("baseline", 10.0, ["error_rate < 1%", "p99 < 300ms"]),
    ("canary", 20.0, ["error_rate < 1%", "version(product:v2).share = 50% ± 10%"]),
]


def shop_records() -> list[dict[str, object]]:
    """baseline: 1..11 s all v1; canary: 11..31 s, half on v2."""
    baseline = steady(1, 11, per_second=10, latency_us=2_000)
    canary = [
        request(11 + i / 10, latency_us=3_000, instance=f"product-v{1 + i % 2}-0")
        for i in range(200)
    ]
    return [request(0.5), *baseline, *canary]  # the first one: before any phase


def test_a_passing_run(run_dir: RunDir) -> None:
    report = build_report(run_dir.write(phases=PHASES, records=shop_records()))
    assert report.verdict == "pass" and report.exit_code == 0
    assert not report.interrupted
    baseline, canary = report.phases
    assert (baseline.start_s, baseline.end_s, baseline.planned_s) == (1.0, 11.0, 10.0)
    assert (canary.start_s, canary.end_s) == (11.0, 31.0)
    assert baseline.traffic.requests == 100  # the warm-up request belongs to no phase
    assert baseline.traffic.rps == 10.0
    assert canary.traffic.requests == 200
    assert canary.stats is not None and canary.stats.served == {"product": {"v1": 100, "v2": 100}}
    assert [e.passed for e in canary.expectations] == [True, True]
    assert report.totals.requests == 300
    assert report.timeline[0].requests == 1  # but it is charted
    assert report.duration_s == 31.5


def test_report_json_has_the_contract_keys(run_dir: RunDir) -> None:
    data = build_report(run_dir.write(phases=PHASES, records=shop_records())).to_dict()
    json.dumps(data, allow_nan=False)  # plain JSON, no NaN
    for key in ("scenario", "runtime", "started_at", "verdict", "phases", "run_id", "ready_s"):
        assert key in data
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["interrupted"] is False
    assert data["scenario"] == "demo" and data["runtime"] == "local" and data["ready_s"] == 3.2
    phase = data["phases"][0]
    for key in (
        "name", "status", "start_s", "end_s", "planned_s", "requests", "failures",
        "error_rate", "rps", "latency_ms", "served", "endpoints", "edges", "expectations",
    ):  # fmt: skip
        assert key in phase, key
    for key in ("p50", "p90", "p95", "p99", "p999", "max", "mean"):
        assert key in phase["latency_ms"]
    assert set(phase["endpoints"]["GET /products"]) >= {"requests", "error_rate", "latency_ms"}
    assert set(phase["expectations"][0]) >= {"expr", "observed", "passed", "unit"}
    assert data["expectation_counts"] == {"total": 4, "passed": 4, "failed": 0, "skipped": 0}
    assert len(data["timeline"]["points"]) == 32


def test_a_failing_expectation_fails_the_run(run_dir: RunDir) -> None:
    phases = [("baseline", 10.0, ["p99 < 1ms", "error_rate < 1%"])]
    report = build_report(run_dir.write(phases=phases, records=steady(1, 11, latency_us=2_000)))
    assert report.verdict == "fail" and report.exit_code == 1
    assert not report.interrupted
    assert [e.expr for _, e in report.failed_expectations] == ["p99 < 1ms"]


def test_a_killed_run_is_interrupted(run_dir: RunDir) -> None:
    phases = [*PHASES, ("after", 5.0, ["p99 < 300ms"])]
    events = phase_events([(n, d) for n, d, _ in phases], killed_in=1)
    records = [r for r in shop_records() if float(r["t"]) < T0 + 20]  # type: ignore[arg-type]
    report = build_report(run_dir.write(phases=phases, records=records, events=events))
    assert report.interrupted and report.status == "interrupted"
    assert report.verdict == "fail" and report.exit_code == 1
    baseline, canary, after = report.phases
    assert baseline.status == "completed"
    assert canary.status == "interrupted"
    assert canary.end_s == pytest.approx(19.903)  # last request start + its 3 ms
    assert canary.traffic.requests == 90
    assert all(e.passed for e in canary.expectations)  # evaluated on what ran...
    assert after.status == "not_run" and after.start_s is None and after.stats is None
    assert [(e.skipped, e.passed, e.note) for e in after.expectations] == [
        (True, False, "phase did not run")
    ]
    data = report.to_dict()
    assert data["interrupted"] is True and data["verdict"] == "fail"
    assert data["expectation_counts"]["skipped"] == 1


def test_a_run_that_errored_fails(run_dir: RunDir) -> None:
    events = phase_events([("baseline", 10.0)], run_status="error")
    path = run_dir.write(phases=PHASES[:1], records=steady(1, 11), events=events)
    report = build_report(path)
    assert report.status == "error" and report.interrupted and report.verdict == "fail"


def test_damaged_lines_are_tolerated(run_dir: RunDir) -> None:
    path = run_dir.write(phases=PHASES[:1], records=steady(1, 11), partial_line=True)
    with (path / "phases.jsonl").open("a") as f:
        f.write('{"event": "run_en')  # killed mid-write
    report = build_report(path)
    assert report.phases[0].traffic.requests == 100
    assert report.status == "completed"


def test_edges_json_is_copied_into_phases(run_dir: RunDir) -> None:
    edge = {"source": "order", "destination": "product", "requests": 10, "errors": 0, "retries": 1}
    phases = [("baseline", 10.0, ["edge(order->product).error_rate < 1%"])]
    path = run_dir.write(
        phases=phases, records=steady(1, 11), edges={"phases": {"baseline": [edge]}}
    )
    report = build_report(path)
    assert report.phases[0].edges == [edge]
    assert report.phases[0].expectations[0].passed
    assert report.to_dict()["phases"][0]["edges"] == [edge]


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="run.json"):
        build_report(tmp_path)


def test_a_broken_scenario_names_the_file(run_dir: RunDir) -> None:
    path = run_dir.write(phases=PHASES, records=[])
    (path / "scenario.yaml").write_text("name: x\nphases: []\n")
    with pytest.raises(MeshsimError) as info:
        build_report(path)
    assert info.value.exit_code == 2
    assert "scenario.yaml" in str(info.value)


def test_no_requests_is_a_warning_and_a_failure(run_dir: RunDir) -> None:
    report = build_report(run_dir.write(phases=PHASES[:1], records=[]))
    assert report.verdict == "fail"
    assert any("no requests" in w for w in report.warnings)


def test_a_phase_that_ended_in_error_fails_the_run(run_dir: RunDir) -> None:
    events = phase_events([("baseline", 10.0)], run_status="error")
    events[2]["status"] = "error"  # phase_end of baseline
    report = build_report(run_dir.write(phases=PHASES[:1], records=steady(1, 11), events=events))
    assert report.phases[0].status == "error"
    assert report.interrupted and report.verdict == "fail"


def test_cohorts_block_only_with_cohorts(run_dir: RunDir) -> None:
    phases = [("beta", 10.0, ["cohort(beta).error_rate < 1%", "cohort(staff).requests == 0"])]
    beta = [i % 4 == 0 for i in range(100)]  # every fourth request: a beta shopper's
    records = [
        request(
            1 + i / 10,
            cohort="beta" if is_beta else None,
            instance="order-v1-0",
            upstreams=["product-v2-0" if is_beta else "product-v1-0"],
        )
        for i, is_beta in enumerate(beta)
    ]
    path = run_dir.write(phases=phases, records=records)
    scenario = (path / "scenario.yaml").read_text()
    cohorts = (
        "load:\n  cohorts:\n"
        "    - {name: beta, share: 25%, headers: {end-user: beta-tester}}\n"
        "    - {name: staff, share: 5%}\n"
    )
    (path / "scenario.yaml").write_text(scenario.replace("phases:", cohorts + "phases:"))
    report = build_report(path)
    assert report.verdict == "pass", [e.note for _, e in report.expectations]
    phase = report.to_dict()["phases"][0]
    assert list(phase["cohorts"]) == ["beta", "staff"]
    entry = phase["cohorts"]["beta"]
    assert (entry["requests"], entry["failures"], entry["error_rate"]) == (25, 0, 0.0)
    assert entry["served"] == {"order": {"v1": 25}, "product": {"v2": 25}}
    assert phase["cohorts"]["staff"]["requests"] == 0
    assert phase["served"]["product"] == {"v1": 75, "v2": 25}

    # a run without cohorts: records without the key, a scenario without cohorts, no block
    plain = [{k: v for k, v in r.items() if k != "cohort"} for r in records]
    path = run_dir.write(phases=[("beta", 10.0, ["error_rate < 1%"])], records=plain)
    assert "cohorts" not in build_report(path).to_dict()["phases"][0]


def test_requests_not_sent_count_as_failures_without_a_latency(run_dir: RunDir) -> None:
    phases = [("open", 10.0, ["error_rate < 5%"])]
    sent = steady(1, 11, per_second=10, latency_us=2_000)
    capped = [
        request(1.05 + i / 10, ok=False, status=0, error="ConcurrencyCapReached", latency_us=1)
        for i in range(50)
    ]
    report = build_report(run_dir.write(phases=phases, records=[*sent, *capped]))
    (phase,) = report.phases
    assert phase.traffic.requests == 150 and phase.traffic.failures == 50
    assert phase.traffic.latency.p50 == 2.0  # the 1 µs of the requests not sent is no latency
    point = report.timeline[1]
    assert (point.requests, point.failures, point.p50_ms) == (20, 10, 2.0)
    assert not phase.expectations[0].passed


def test_a_closed_loop_phase_whose_throughput_collapses_is_named(run_dir: RunDir) -> None:
    phases = [("steady", 10.0, ["error_rate < 5%"]), ("hang", 10.0, ["error_rate < 5%"])]
    records = [*steady(1, 11, per_second=10), *steady(11, 21, per_second=1)]
    report = build_report(run_dir.write(phases=phases, records=records))
    assert report.verdict == "pass"
    (warning,) = [w for w in report.warnings if "closed-loop" in w]
    assert warning.startswith("phase hang: 1 req/s, 10% of phase steady's 10")
    records = [*steady(1, 11, per_second=10), *steady(11, 21, per_second=3)]
    report = build_report(run_dir.write(phases=phases, records=records))
    assert not [w for w in report.warnings if "closed-loop" in w]
