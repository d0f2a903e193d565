"""junit.xml: one test suite per phase, one test case per expectation.

CI systems (GitHub, GitLab, Jenkins) render JUnit natively, so a failed
expectation shows up where a failed unit test would. Each phase also gets a
"phase completed" case, which is an error when the phase was interrupted and
skipped when it never ran.

Every text from the run goes through `visible` (`x` here): control characters
XML 1.0 forbids are written escaped (`\\x1b`), so a hostile scenario name
cannot make the file unwritable or unparseable.
"""

from __future__ import annotations

from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

import meshsim.report.format as fmt
from meshsim import rundir
from meshsim.report.model import (
    PHASE_INCOMPLETE,
    PHASE_NOT_RUN,
    RUN_COMPLETED,
    RUN_ERROR,
    PhaseReport,
    Report,
)
from meshsim.report.text import visible as x

FILENAME = rundir.JUNIT


def junit_xml(report: Report) -> JUnitXml:
    xml = JUnitXml(name=x(f"meshsim {report.scenario}"))
    for phase in report.phases:
        xml.add_testsuite(_suite(report, phase))
    # A phase cut short says so itself; otherwise (the mesh never started, or it
    # failed between phases) the run gets an error case of its own.
    told = any(p.status not in (RUN_COMPLETED, PHASE_NOT_RUN) for p in report.phases)
    if report.status != RUN_COMPLETED and not told:
        suite = TestSuite("run")
        case = TestCase("run completed", classname=x(report.scenario))
        message = f"the run ended with status {report.status!r}"
        if report.error:
            message += f": {report.error}"
        kind = "MeshCouldNotRun" if report.status == RUN_ERROR else "RunNotCompleted"
        case.result = [Error(x(message), kind)]
        suite.add_testcase(case)
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    return xml


def _suite(report: Report, phase: PhaseReport) -> TestSuite:
    suite = TestSuite(x(phase.name))
    classname = x(f"{report.scenario}.{phase.name}")
    duration = phase.duration_s or 0.0
    suite.timestamp = x(report.started_at or "")
    suite.add_property("requests", str(phase.traffic.requests))
    suite.add_property("status", x(phase.status))

    # The suite's time is the sum of its cases': the phase's duration goes here.
    completed = TestCase("phase completed", classname=classname, time=duration)
    if phase.status == PHASE_NOT_RUN:
        completed.result = [Skipped("the phase did not run")]
    elif phase.status == PHASE_INCOMPLETE:  # a file of the run was cut: say which
        why = "; ".join(report.warnings) or "a file of the run lost data"
        completed.result = [Error(x(f"the phase's data is incomplete: {why}"), "PhaseIncomplete")]
    elif phase.status != RUN_COMPLETED:
        completed.result = [
            Error(
                x(
                    f"the phase ended {phase.status} after {fmt.seconds(duration)}"
                    f" of {fmt.seconds(phase.planned_s)} planned"
                ),
                "PhaseInterrupted",
            )
        ]
    suite.add_testcase(completed)

    for expectation in phase.expectations:
        case = TestCase(x(expectation.expr), classname=classname)
        message = x(fmt.outcome(expectation))
        if expectation.skipped:
            case.result = [Skipped(message)]
        elif not expectation.passed:
            case.result = [Failure(message, "ExpectationFailed")]
        else:
            case.system_out = message
        suite.add_testcase(case)
    return suite


def write_junit(report: Report, out_dir: Path) -> Path:
    path = out_dir / FILENAME
    junit_xml(report).write(str(path), pretty=True)
    return path
