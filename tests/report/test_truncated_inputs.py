"""A run directory that lost data says so (issue 16, item 11).

A records file cut in half, or phases.jsonl without a phase's `phase_end`,
used to give phases shown as `completed` with fewer requests and no warning.
Now the runner logs what each records file held when the load stopped
(`run_end.records`); a file shorter than that, or a phase without its end in a
run that ended, makes the phase `incomplete` with a warning in every format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import Error, JUnitXml

from meshsim.load.records import record_counts
from meshsim.report import Report, build_report, write_reports
from meshsim.report.text import markdown_text
from tests.report.runs import RunDir, phase_events, steady

PHASES = [("first", 10.0, ["error_rate < 1%"]), ("second", 10.0, ["error_rate < 1%"])]


def _run(run_dir: RunDir) -> Path:
    """A whole run, its run_end logging its records as the runner does."""
    records = steady(1, 21)
    path = run_dir.write(phases=PHASES, records=records)
    events = phase_events([(n, d) for n, d, _ in PHASES])
    events[-1]["records"] = record_counts(path / "records")
    (path / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def _in_every_format(report: Report, out: Path, text: str) -> None:
    write_reports(report, out, environ={})
    assert any(text in w for w in json.loads((out / "report.json").read_text())["warnings"])
    assert markdown_text(text) in (out / "summary.md").read_text()  # phase\\_end there
    assert text in (out / "report.html").read_text()
    assert text in (out / "junit.xml").read_text()


def test_a_whole_run_has_no_warning(run_dir: RunDir) -> None:
    report = build_report(_run(run_dir))
    assert [p.status for p in report.phases] == ["completed", "completed"]
    assert report.warnings == [] and report.verdict == "pass"


def test_a_records_file_cut_in_half_is_flagged(run_dir: RunDir, tmp_path: Path) -> None:
    path = _run(run_dir)
    (records,) = (path / "records").glob("requests-*.jsonl")
    data = records.read_bytes()
    records.write_bytes(data[: len(data) // 2])  # mid-line, in the second half of "first"
    report = build_report(path)
    # the second phase lost every request, the first its end: neither is "completed"
    assert [p.status for p in report.phases] == ["incomplete", "incomplete"]
    assert report.verdict == "fail" and report.exit_code == 1
    (warning,) = [w for w in report.warnings if "was cut short" in w]
    assert f"records/{records.name} was cut short" in warning
    _in_every_format(report, tmp_path / "out", "was cut short")
    xml = JUnitXml.fromfile(str(tmp_path / "out" / "junit.xml"))
    case = next(c for s in xml if s.name == "second" for c in s if c.name == "phase completed")
    assert isinstance(case.result[0], Error) and case.result[0].type == "PhaseIncomplete"


def test_a_records_file_that_is_gone_is_flagged(run_dir: RunDir) -> None:
    path = _run(run_dir)
    for records in (path / "records").glob("requests-*.jsonl"):
        records.unlink()
    report = build_report(path)
    assert [p.status for p in report.phases] == ["incomplete", "incomplete"]
    assert any("is missing: the run recorded 200 requests" in w for w in report.warnings)


@pytest.mark.parametrize("missing", ["first", "second"])
def test_a_missing_phase_end_is_flagged(run_dir: RunDir, tmp_path: Path, missing: str) -> None:
    path = _run(run_dir)
    events = [json.loads(line) for line in (path / "phases.jsonl").read_text().splitlines()]
    kept = [e for e in events if not (e["event"] == "phase_end" and e["phase"] == missing)]
    (path / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in kept))
    report = build_report(path)
    status = {p.name: p.status for p in report.phases}
    assert status[missing] == "incomplete"
    assert report.verdict == "fail"
    _in_every_format(report, tmp_path / "out", f"phase {missing} has no phase_end")


def test_a_killed_run_stays_interrupted_without_a_damage_warning(run_dir: RunDir) -> None:
    events = phase_events([(n, d) for n, d, _ in PHASES], killed_in=1)
    report = build_report(run_dir.write(phases=PHASES, records=steady(1, 15), events=events))
    assert [p.status for p in report.phases] == ["completed", "interrupted"]
    assert not [w for w in report.warnings if "cut short" in w or "no phase_end" in w]
