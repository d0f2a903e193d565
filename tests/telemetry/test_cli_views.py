"""`meshsim traces`, `logs` and `graph` on a run directory, and what the report shows."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.errors import UsageError
from meshsim.report import build_report, write_reports
from tests.telemetry.runs import TRACE, make_run, order_trace

runner = CliRunner()


def test_traces_lists_draws_and_exports(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, spans=order_trace() + order_trace("b" * 32, 12_000))
    result = runner.invoke(app, ["traces", str(run_dir), "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "phase one: the 1 slowest of 1 traces" in result.output
    assert "order → shipping" in result.output and "POST /orders" in result.output
    out = tmp_path / "jaeger.json"
    result = runner.invoke(
        app, ["traces", str(run_dir), "--trace", TRACE[:8], "--export", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [t["traceID"] for t in json.loads(out.read_text())["data"]] == [TRACE]
    for bad in (["--phase", "nope"], ["--trace", "ffff"]):
        assert isinstance(runner.invoke(app, ["traces", str(run_dir), *bad]).exception, UsageError)
    assert isinstance(runner.invoke(app, ["traces", str(tmp_path)]).exception, UsageError)


def test_logs_filters(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    result = runner.invoke(app, ["logs", str(run_dir), "--status", "5xx", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.output.splitlines()]
    assert (line["source"], line["destination"], line["flags"], line["phase"]) == (
        "order", "product", ["FI"], "two",
    )  # fmt: skip
    result = runner.invoke(app, ["logs", str(run_dir), "--phase", "one", "--limit", "2"])
    assert result.exit_code == 0 and "2 of 3 matching entries" in result.output
    bad = runner.invoke(app, ["logs", str(run_dir), "--status", "bad"])
    assert isinstance(bad.exception, UsageError)
    for option in (["--service", "nosuch"], ["--flags", "ZZ"]):
        bad = runner.invoke(app, ["logs", str(run_dir), *option])
        assert isinstance(bad.exception, UsageError), bad.output
    bad = runner.invoke(app, ["logs", str(run_dir), "--service", "nosuch"])
    assert "product-v1-0" in str(bad.exception)  # the known ones, from the run's plan


def test_graph_text_dot_graphml(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    result = runner.invoke(app, ["graph", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (
        "phase one" in result.output and "the observed graph is the declared one" in result.output
    )
    assert "idle: shipping" in result.output  # phase two
    result = runner.invoke(app, ["graph", str(run_dir), "--format", "dot", "--phase", "two"])
    assert result.exit_code == 0 and result.output.startswith("digraph")
    out = tmp_path / "g.graphml"
    result = runner.invoke(app, ["graph", str(run_dir), "--format", "graphml", "-o", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("<?xml")
    bad = runner.invoke(app, ["graph", str(run_dir), "--format", "png"])
    assert isinstance(bad.exception, UsageError)


def test_report_has_the_graph_and_the_critical_path(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    report = build_report(run_dir)
    one = report.phases[0].to_dict()
    assert one["graph"]["matches"] is True and one["graph"]["idle"] == []
    assert one["critical_path"]["traced"] == 1
    assert one["critical_path"]["by_service"][0]["service"] == "shipping"
    two = report.phases[1].to_dict()
    assert two["graph"]["idle"] == ["shipping"] and two["critical_path"] is None
    write_reports(report, tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'aria-label="service graph"' in html and "Where the time went" in html
    assert "declared, no traffic: order → product, order → shipping, order → user" in html
