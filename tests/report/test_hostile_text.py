"""Hostile names reach no output raw (issue 16, item 6).

A scenario name, phase names, an error and a warning holding ESC sequences,
every C0 control, a bidi override, markup and a faked " PASS " line: the
terminal shows them escaped, junit.xml is written and parses, summary.md and
report.html escape them. The loader rejects such names in a scenario file;
these writers must hold anyway (`meshsim report` on an old run directory, a
phase named from the Python API).
"""

from __future__ import annotations

import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import JUnitXml
from rich.console import Console

from meshsim import console
from meshsim.events import Progress, RunInfo
from meshsim.report import Report, build_report, write_reports
from meshsim.report.model import RUN_ERROR
from meshsim.report.text import markdown_code
from tests.report.runs import RunDir, steady

C0 = "".join(chr(c) for c in range(0x20) if c not in (0x0A,))
FAKE_PASS = "\n PASS  demo: 9 of 9 expectations held\n"
HOSTILE = (
    f"evil\x1b[2K\r\x1b[42m PASS \x1b[0m{C0}\x7f\x9b\u202e<script>x</script>*_[l](u)|{FAKE_PASS}"
)
# what an XML 1.0 parser or a terminal must never see
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202e]")


@pytest.fixture
def report(run_dir: RunDir) -> Report:
    phases = [("first", 10.0, ["error_rate < 1%"]), ("second", 5.0, [])]
    built = build_report(run_dir.write(phases=phases, records=steady(1, 16)))
    built.scenario = HOSTILE
    built.phases = [dataclasses.replace(p, name=f"{p.name}-{HOSTILE}") for p in built.phases]
    built.warnings.append(f"warning about {HOSTILE}")
    return built


def test_every_file_is_written_and_holds_no_raw_control_character(
    report: Report, tmp_path: Path
) -> None:
    paths = write_reports(report, tmp_path, environ={})
    assert [p.name for p in paths] == ["report.json", "junit.xml", "summary.md", "report.html"]
    for path in paths[1:]:
        text = path.read_text(encoding="utf-8")
        assert not RAW.search(text), path.name
        assert "\\x1b[2K" in text or "\\\\x1b" in text, path.name  # shown, escaped


def test_junit_parses_and_keeps_the_name_visible(report: Report, tmp_path: Path) -> None:
    report.status, report.error = RUN_ERROR, f"boom {HOSTILE}"
    write_reports(report, tmp_path, environ={})
    ET.parse(tmp_path / "junit.xml")  # expat: no "not well-formed (invalid token)"
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    names = [suite.name for suite in xml]
    assert names[0].startswith("first-evil\\x1b[2K\\x0d\\x1b[42m PASS ")


def test_summary_md_escapes_markup_and_fakes_no_line(report: Report, tmp_path: Path) -> None:
    write_reports(report, tmp_path, environ={})
    text = (tmp_path / "summary.md").read_text()
    assert not re.search(r"(?<!\\)<script>", text) and "\\<script>" in text
    assert "\\*\\_\\[l\\](u)" in text
    assert not [line for line in text.splitlines() if VERDICT.match(line)]
    # every row of the phases table has its nine cells (no pipe or newline broke one)
    rows = [
        line for line in text.splitlines() if line.startswith("| first-") or "| second-" in line
    ]
    assert rows and all(len(re.split(r"(?<!\\)\|", row)) == 11 for row in rows[:2])


def test_report_html_escapes_markup(report: Report, tmp_path: Path) -> None:
    write_reports(report, tmp_path, environ={})
    text = (tmp_path / "report.html").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_markdown_code_survives_backticks() -> None:
    assert markdown_code("a`b") == "``a`b``"
    assert markdown_code("`x") == "`` `x ``"


def _plain() -> tuple[Console, io.StringIO]:
    """A console as wide as any line here, so that no wrapping starts a line."""
    buffer = io.StringIO()
    return Console(file=buffer, width=2000, force_terminal=False, color_system=None), buffer


VERDICT = re.compile(r"^\s*(PASS|FAIL|ERROR)\s")


def test_the_terminal_gets_no_escape_sequence_and_no_fake_pass_line(report: Report) -> None:
    out, buffer = _plain()
    console.print_report(report, console=out)
    console.print_warning(f"phase {HOSTILE}", console=out)
    text = buffer.getvalue()
    assert not RAW.search(text)
    assert "\\x1b[2K" in text
    # the one real verdict line, and no other line that looks like one
    assert len([line for line in text.splitlines() if VERDICT.match(line)]) == 1
    console.print_error(f"error {HOSTILE}", console=out)
    console.print_table(HOSTILE, ["name"], [[HOSTILE]], console=out)
    assert not RAW.search(buffer.getvalue())


def test_run_events_with_a_hostile_phase_name_print_one_line_each(tmp_path: Path) -> None:
    out, buffer = _plain()
    progress = console.ConsoleProgress(out, total_phases=1, live=False, clock=lambda: 0.0)
    progress.run_started(RunInfo("r", tmp_path, HOSTILE, "local", ["a"], None))
    progress.phase_started(HOSTILE, 0, 1.0)
    progress.progress(Progress(HOSTILE, 0, 1.0, 1.0, 10, 0, 10.0, 1.0))
    progress.phase_ended(HOSTILE, 0, "completed")
    progress.warning(HOSTILE)
    text = buffer.getvalue()
    assert not RAW.search(text)
    lines = text.splitlines()  # run, phase started, phase ended, warning
    assert len(lines) == 4 and all(line.startswith("[    0.0s] ") for line in lines)
