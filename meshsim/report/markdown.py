"""summary.md: the verdict and the tables a pull request reviewer reads.

When `GITHUB_STEP_SUMMARY` is set (GitHub Actions), the same text is appended
to that file so it shows on the workflow run's page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import meshsim.report.format as fmt
from meshsim import rundir
from meshsim.report.model import PASS, Report
from meshsim.report.text import markdown_code, markdown_text, one_line

FILENAME = rundir.SUMMARY
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def _cell(text: object) -> str:
    """A table cell: pipes, newlines and control characters would break the
    row (meshsim's own cells: names and code spans are escaped before)."""
    return one_line(str(text)).replace("|", "\\|")


def _table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    headers = list(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report) -> str:
    icon = "✅" if report.verdict == PASS else "❌"
    lines = [
        f"## {icon} meshsim · {markdown_text(fmt.verdict_line(report))}",
        "",
        f"Run {markdown_code(report.run_id)} · runtime {markdown_text(report.runtime)}"
        f" · started {markdown_text(report.started_at or '?')}"
        f" · {fmt.seconds(report.duration_s)}"
        + (f" · mesh ready in {fmt.seconds(report.ready_s)}" if report.ready_s is not None else ""),
        "",
        "### Phases",
        "",
    ]
    lines += _table(
        ["phase", "status", "duration", "requests", "rps", "errors", "p50", "p99", "served"],
        (
            [
                markdown_text(p.name),
                p.status.replace("_", " "),
                fmt.seconds(p.duration_s),
                fmt.number(p.traffic.requests),
                fmt.number(p.traffic.rps),
                fmt.percent(p.traffic.error_rate),
                fmt.ms(p.traffic.latency.p50),
                fmt.ms(p.traffic.latency.p99),
                markdown_text(fmt.served(p)),
            ]
            for p in report.phases
        ),
    )
    lines += ["", f"<sub>{fmt.SERVED_MEANING}</sub>"]
    settled = [line for p in report.phases if (line := fmt.settled(p)) is not None]
    if settled:
        lines += [""] + [f"- {markdown_text(line)}" for line in settled]
    results = report.expectations
    lines += ["", "### Expectations", ""]
    if results:
        lines += _table(
            ["", "phase", "expectation", "observed", "expected", "note"],
            (
                [
                    "⏭️" if e.skipped else "✅" if e.passed else "❌",
                    markdown_text(p.name),
                    markdown_code(e.expr),
                    markdown_text(fmt.observed(e)),
                    markdown_text(fmt.expected(e)),
                    markdown_text(e.note or ""),
                ]
                for p, e in results
            ),
        )
    else:
        lines.append("_The scenario states no expectations._")
    errors = [(p.name, e, n) for p in report.phases if p.stats for e, n in p.stats.errors]
    if errors:
        lines += ["", "### Most frequent errors", ""]
        lines += _table(
            ["phase", "error", "count"],
            ([markdown_text(p), markdown_code(e), n] for p, e, n in errors),
        )
    if report.warnings:
        lines += ["", "### Warnings", ""] + [f"- {markdown_text(w)}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def write_markdown(report: Report, out_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Write summary.md; append it to $GITHUB_STEP_SUMMARY too when that is set."""
    text = render_markdown(report)
    path = out_dir / FILENAME
    path.write_text(text, encoding="utf-8")
    step_summary = (os.environ if environ is None else environ).get(STEP_SUMMARY_ENV)
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return path
