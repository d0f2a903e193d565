from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from meshsim.report import Report, build_report, write_reports
from meshsim.report.html import render_html
from meshsim.report.markdown import STEP_SUMMARY_ENV
from tests.report.runs import RunDir, phase_events, request, steady

PHASES = [
    ("baseline", 10.0, ["error_rate < 1%", "p99 < 1ms"]),  # p99 fails: requests take 2 ms
    ("canary", 10.0, ["version(product:v2).share = 50% ± 5%"]),
    ("after", 5.0, ["p99 < 300ms"]),  # never runs: meshsim was killed during canary
]


@pytest.fixture
def report(run_dir: RunDir) -> Report:
    records = steady(1, 11, latency_us=2_000) + [
        request(11 + i / 10, instance=f"product-v{1 + i % 2}-0", ok=i != 7) for i in range(50)
    ]
    events = phase_events([(n, d) for n, d, _ in PHASES], killed_in=1)
    return build_report(run_dir.write(phases=PHASES, records=records, events=events))


def test_write_reports_writes_four_files(report: Report, tmp_path: Path) -> None:
    paths = write_reports(report, tmp_path / "out" / "nested", environ={})
    assert [p.name for p in paths] == ["report.json", "junit.xml", "summary.md", "report.html"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert json.loads(paths[0].read_text()) == json.loads(json.dumps(report.to_dict()))


def test_junit_has_a_suite_per_phase_and_a_failure_per_failed_expectation(
    report: Report, tmp_path: Path
) -> None:
    write_reports(report, tmp_path, environ={})
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["baseline", "canary", "after"]
    cases = {case.name: case for case in suites["baseline"]}
    assert set(cases) == {"phase completed", "error_rate < 1%", "p99 < 1ms"}
    assert cases["error_rate < 1%"].is_passed
    (failure,) = cases["p99 < 1ms"].result
    assert isinstance(failure, Failure)
    assert failure.message == "observed 2 ms, expected < 1 ms"
    canary = {case.name: case for case in suites["canary"]}
    assert isinstance(canary["phase completed"].result[0], Error)  # interrupted
    assert all(isinstance(c.result[0], Skipped) for c in suites["after"])
    assert xml.failures == 1 and xml.errors == 1


def test_summary_markdown(report: Report, tmp_path: Path) -> None:
    write_reports(report, tmp_path, environ={})
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("## ❌ meshsim · FAIL: demo: 2 of 4 expectations held")
    assert "phase canary interrupted" in text
    assert (
        "| baseline | completed | 10.0s | 100 | 10 | 0% | 2 ms | 2 ms | product v1 100% |" in text
    )
    assert "| ❌ | baseline | `p99 < 1ms` | 2 ms | < 1 ms |  |" in text
    assert "| ✅ | baseline | `error_rate < 1%` | 0% | < 1% |  |" in text
    assert "| ⏭️ | after | `p99 < 300ms` | – | < 300 ms | phase did not run |" in text
    assert "HTTP 503" in text  # most frequent errors


def test_summary_is_appended_to_github_step_summary(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("# earlier step\n")
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(step_summary))
    write_reports(report, tmp_path / "out")
    text = step_summary.read_text()
    assert text.startswith("# earlier step\n")
    assert (tmp_path / "out" / "summary.md").read_text() in text


def test_an_empty_step_summary_variable_is_ignored(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_reports(report, out, environ={STEP_SUMMARY_ENV: ""})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "run"]
    assert len(list(out.iterdir())) == 4


def test_html_is_self_contained_with_two_charts(report: Report) -> None:
    html = render_html(report)
    # No fetched resources: no URL in src/href/url(), no external scripts or stylesheets.
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)|url\(([^)]*)\)""", html)
    assert not [r for pair in refs for r in pair if re.match(r"\s*['\"]?(https?:)?//", r)]
    assert "http://" not in html and "https://" not in html  # not even the ingress URL
    assert "<script" not in html and "<link" not in html
    assert html.count("<svg") == 2
    assert "<style>" in html
    assert "FAIL · demo" in html
    for phase in ("baseline", "canary", "after"):
        assert phase in html
    assert "canary (interrupted)" in html  # the chart's phase band says so


def test_html_escapes_what_the_run_says(run_dir: RunDir) -> None:
    records = steady(1, 11, name="GET /products/<script>", error="<b>boom</b>", ok=False)
    report = build_report(run_dir.write(phases=PHASES[:1], records=records))
    html = render_html(report)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_html_chart_without_data_says_so(run_dir: RunDir) -> None:
    report = build_report(run_dir.write(phases=PHASES[:1], records=[]))
    assert "no data" in render_html(report)


def test_a_mesh_that_could_not_run_is_an_error_in_every_report(run_dir: RunDir) -> None:
    """Exit 3, not 1: the phases never ran, and every file says why, naming the log."""
    why = "istio-ingressgateway: exited during start-up:\nboom (log: logs/gw.envoy.log)"
    events = [
        {"event": "run_start", "t": 1000.0},
        {"event": "run_end", "t": 1001.0, "status": "error", "error": why},
    ]
    path = run_dir.write(
        phases=[("baseline", 10.0, ["error_rate < 1%"])], records=[], events=events
    )
    report = build_report(path)
    assert report.exit_code == 3 and report.error == why
    json_path, junit_path, markdown_path, html_path = write_reports(report, path, environ={})
    data = json.loads(json_path.read_text())
    assert data["exit_code"] == 3 and data["status"] == "error" and data["error"] == why
    (run_case,) = [c for s in JUnitXml.fromfile(str(junit_path)) for c in s if s.name == "run"]
    (error,) = run_case.result
    assert isinstance(error, Error) and "logs/gw.envoy.log" in (error.message or "")
    heading = markdown_path.read_text().splitlines()[0]
    assert heading.startswith("## ❌ meshsim · ERROR: demo: the mesh could not run:")
    assert "boom (log: logs/gw.envoy.log)" in heading  # one line, though the error had two
    assert "<h1>ERROR · demo</h1>" in html_path.read_text()
