"""A phase's expectations judged as the report judges them, for the dashboard.

The same steps as `meshsim.report.build` takes for one phase (the whole
phase, or its settled part when it has a `settle`), on the aggregates the
dashboard built while the records came in, so the page and report.html agree.
"""

from __future__ import annotations

from typing import Any

from meshsim.report.expectations import after_settle, evaluate, never_settled
from meshsim.report.model import ExpectationResult
from meshsim.report.stats import PhaseStatsBuilder
from meshsim.scenario.expect import parse_expectation
from meshsim.timeline import PhaseWindow, settled_window


def judge_phase(
    expect: list[str],
    window: PhaseWindow,
    stats: PhaseStatsBuilder,
    settled: PhaseStatsBuilder | None,
    edges: list[dict[str, Any]] | None,
    settled_edges: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Each expectation of a phase that ended, as the API shows it."""
    part = settled_window(window)
    out = []
    for text in expect:
        try:
            expectation = parse_expectation(text)
        except ValueError as exc:
            out.append(_shown(ExpectationResult(text, None, False, note=str(exc))))
            continue
        if part is None:
            judged = evaluate(expectation, stats.build(window.duration_s), edges, window.duration_s)
        elif part.start is None:
            judged = never_settled(expectation, part.settle_s)
        else:
            after = settled_edges if edges is not None else None
            built = (settled or PhaseStatsBuilder(stats.cohorts)).build(part.duration_s)
            judged = after_settle(
                evaluate(expectation, built, after, part.duration_s),
                part.settle_s,
            )
        out.append(_shown(judged))
    return out


def not_judged(expect: list[str], note: str | None) -> list[dict[str, Any]]:
    """Expectations not judged (yet): `pending`."""
    return [
        {"text": text, "status": "pending", "observed": None, "unit": None, "note": note}
        for text in expect
    ]


def _shown(result: ExpectationResult) -> dict[str, Any]:
    return {
        "text": result.expr,
        "status": "pass" if result.passed else "fail",
        "observed": result.observed,
        "unit": result.unit,
        "note": result.note,
    }
