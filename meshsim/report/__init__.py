"""The report: a run directory in, numbers, verdicts and files out.

Pure: nothing here starts processes or knows about time passing, so a finished
or interrupted run can be reported again at any point (`meshsim report RUN_DIR`).

>>> report = build_report(run_dir)                      # doctest: +SKIP
>>> paths = write_reports(report, run_dir / "report")  # doctest: +SKIP
>>> report.verdict, report.exit_code                    # doctest: +SKIP
('pass', 0)
"""

from meshsim.report.build import build_report
from meshsim.report.model import SCHEMA_VERSION, ExpectationResult, PhaseReport, Report
from meshsim.report.stats import Latency, PhaseStats, TimelinePoint, Traffic
from meshsim.report.writers import write_reports

__all__ = [
    "SCHEMA_VERSION",
    "ExpectationResult",
    "Latency",
    "PhaseReport",
    "PhaseStats",
    "Report",
    "TimelinePoint",
    "Traffic",
    "build_report",
    "write_reports",
]
