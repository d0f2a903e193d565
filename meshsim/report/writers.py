"""Writing every report file of a run into one directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from meshsim.report.html import write_html
from meshsim.report.json_writer import write_json
from meshsim.report.junit import write_junit
from meshsim.report.markdown import write_markdown
from meshsim.report.model import Report


def write_reports(
    report: Report, out_dir: Path, *, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """Write report.json, junit.xml, summary.md and report.html into `out_dir`.

    Creates `out_dir` if needed and returns the paths written, in that order.
    `environ` (default: `os.environ`) is where `GITHUB_STEP_SUMMARY` is looked up.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_json(report, out_dir),
        write_junit(report, out_dir),
        write_markdown(report, out_dir, environ),
        write_html(report, out_dir),
    ]
