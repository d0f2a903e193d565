"""The report: a run directory in, numbers, verdicts and files out.

Pure: nothing here starts processes or knows about time passing, so a finished
or interrupted run can be reported again at any point (`meshsim report RUN_DIR`).

>>> report = build_report(run_dir)                      # doctest: +SKIP
>>> paths = write_reports(report, run_dir / "report")  # doctest: +SKIP
>>> report.verdict, report.exit_code                    # doctest: +SKIP
('pass', 0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshsim.lazy import lazy_names

if TYPE_CHECKING:
    from meshsim.report.build import build_report
    from meshsim.report.model import SCHEMA_VERSION, ExpectationResult, PhaseReport, Report
    from meshsim.report.stats import Latency, PhaseStats, TimelinePoint, Traffic
    from meshsim.report.writers import write_reports

# public name → the module that defines it. Loaded on first use (PEP 562): the
# console and the dashboard import the report's model and formatting without
# the builder (the scenario loader, the service graph) or the writers.
_EXPORTS = {
    "build_report": "meshsim.report.build",
    "SCHEMA_VERSION": "meshsim.report.model",
    "ExpectationResult": "meshsim.report.model",
    "PhaseReport": "meshsim.report.model",
    "Report": "meshsim.report.model",
    "Latency": "meshsim.report.stats",
    "PhaseStats": "meshsim.report.stats",
    "TimelinePoint": "meshsim.report.stats",
    "Traffic": "meshsim.report.stats",
    "write_reports": "meshsim.report.writers",
}

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


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
