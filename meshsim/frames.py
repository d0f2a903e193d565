"""A report as tables: rows of plain dicts, and pandas DataFrames built from them.

The rows functions need nothing beyond the standard library; the `*_df`
functions import pandas when first called (the `notebooks` extra:
`pip install 'meshsim[notebooks]'`), so importing meshsim never does.

>>> from meshsim.report import build_report                    # doctest: +SKIP
>>> phases_df(build_report(run_dir))[["phase", "rps", "p99_ms"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meshsim.errors import UsageError
from meshsim.report.model import PhaseReport, Report

if TYPE_CHECKING:
    import pandas as pd

Row = dict[str, Any]

PHASE_COLUMNS = [
    "phase",
    "index",
    "status",
    "start_s",
    "end_s",
    "duration_s",
    "planned_s",
    "requests",
    "failures",
    "error_rate",
    "rps",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
    "passed",
    "policy",
    "policy_effective_s",
]
TIMELINE_COLUMNS = [
    "t_s",
    "phase",
    "requests",
    "failures",
    "rps",
    "error_rate",
    "p50_ms",
    "p99_ms",
]
EDGE_COLUMNS = [
    "phase",
    "source",
    "destination",
    "destination_version",
    "requests",
    "errors",
    "error_rate",
    "retries",
    "attempts",
    "timeouts",
    "pending_overflow",
    "ejections",
    "faults_aborted",
    "faults_delayed",
    "mirrored",
    "denied",
    # 503s of a route to no cluster (Envoy's NC), counted on the caller's edge,
    # and what no outcome class explains: requests equal the sum of the outcomes
    "no_cluster",
    "unclassified",
]
EXPECTATION_COLUMNS = [
    "phase",
    "expr",
    "passed",
    "observed",
    "op",
    "expected",
    "tolerance",
    "unit",
    "metric",
    "scope",
    "target",
    "skipped",
    "note",
]
SERVED_COLUMNS = ["phase", "service", "version", "requests", "share"]
JOURNEY_COLUMNS = [
    "phase",
    "journey",
    "requests",
    "failures",
    "error_rate",
    "rps",
    "p50_ms",
    "p99_ms",
]


def phase_rows(report: Report) -> list[Row]:
    """One row per phase: traffic, latency percentiles (ms), verdict and policy change."""
    rows = []
    for p in report.phases:
        t = p.traffic
        lat = t.latency
        rows.append(
            {
                "phase": p.name,
                "index": p.index,
                "status": p.status,
                "start_s": p.start_s,
                "end_s": p.end_s,
                "duration_s": p.duration_s,
                "planned_s": p.planned_s,
                "requests": t.requests,
                "failures": t.failures,
                "error_rate": t.error_rate,
                "rps": t.rps,
                "p50_ms": lat.p50,
                "p90_ms": lat.p90,
                "p95_ms": lat.p95,
                "p99_ms": lat.p99,
                "p999_ms": lat.p999,
                "max_ms": lat.max,
                "mean_ms": lat.mean,
                "passed": p.passed,
                "policy": ", ".join(p.policy.get("resources", [])) if p.policy else "",
                "policy_effective_s": p.policy.get("effective_s") if p.policy else None,
            }
        )
    return rows


def phase_at(report: Report, t_s: float) -> str | None:
    """The phase running `t_s` seconds after the run started (None: between or outside phases)."""
    for p in report.phases:
        if p.start_s is not None and p.end_s is not None and p.start_s <= t_s < p.end_s:
            return p.name
    return None


def timeline_rows(report: Report) -> list[Row]:
    """One row per time bucket (`report.bucket_s`, 1 s) from the run's start to its end."""
    return [
        {"t_s": pt.t_s, "phase": phase_at(report, pt.t_s)} | pt.to_dict() for pt in report.timeline
    ]


def edge_rows(report: Report) -> list[Row]:
    """One row per phase and edge (caller → callee, per destination version), from Envoy's counters."""
    rows = []
    for p in report.phases:
        for edge in p.edges:
            row: Row = {"phase": p.name}
            row.update({k: v for k, v in edge.items() if not isinstance(v, dict | list)})
            requests = edge.get("requests") or 0
            row["error_rate"] = round((edge.get("errors") or 0) / requests, 6) if requests else None
            rows.append(row)
    return rows


def expectation_rows(report: Report) -> list[Row]:
    """One row per expectation of every phase, with what was observed."""
    return [{"phase": p.name} | e.to_dict() for p, e in report.expectations]


def served_rows(report: Report) -> list[Row]:
    """Requests served per phase, service and version, with each version's share."""
    rows = []
    for p in report.phases:
        served = p.stats.served if p.stats else {}
        for service, versions in served.items():
            total = sum(versions.values())
            for version, n in versions.items():
                rows.append(
                    {
                        "phase": p.name,
                        "service": service,
                        "version": version,
                        "requests": n,
                        "share": round(n / total, 6) if total else None,
                    }
                )
    return rows


def journey_rows(report: Report) -> list[Row]:
    """Per phase and shopper journey (or legacy client): requests, errors, latency."""
    rows = []
    for p in report.phases:
        for journey, t in (p.stats.journeys if p.stats else {}).items():
            rows.append(
                {
                    "phase": p.name,
                    "journey": journey,
                    "requests": t.requests,
                    "failures": t.failures,
                    "error_rate": t.error_rate,
                    "rps": t.rps,
                    "p50_ms": t.latency.p50,
                    "p99_ms": t.latency.p99,
                }
            )
    return rows


def _frame(rows: list[Row], columns: list[str]) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError(
            "DataFrames need pandas: pip install 'meshsim[notebooks]' (or pip install pandas)"
        ) from exc
    extra = [c for row in rows for c in row if c not in columns]
    ordered = columns + sorted(set(extra), key=extra.index)
    return pd.DataFrame.from_records(rows, columns=ordered)


def phases_df(report: Report) -> pd.DataFrame:
    """`phase_rows` as a DataFrame."""
    return _frame(phase_rows(report), PHASE_COLUMNS)


def timeline_df(report: Report) -> pd.DataFrame:
    """`timeline_rows` as a DataFrame."""
    return _frame(timeline_rows(report), TIMELINE_COLUMNS)


def edges_df(report: Report) -> pd.DataFrame:
    """`edge_rows` as a DataFrame."""
    return _frame(edge_rows(report), EDGE_COLUMNS)


def expectations_df(report: Report) -> pd.DataFrame:
    """`expectation_rows` as a DataFrame."""
    return _frame(expectation_rows(report), EXPECTATION_COLUMNS)


def served_df(report: Report) -> pd.DataFrame:
    """`served_rows` as a DataFrame."""
    return _frame(served_rows(report), SERVED_COLUMNS)


def journeys_df(report: Report) -> pd.DataFrame:
    """`journey_rows` as a DataFrame."""
    return _frame(journey_rows(report), JOURNEY_COLUMNS)


TABLES: dict[str, Callable[[Report], pd.DataFrame]] = {
    "phases": phases_df,
    "timeline": timeline_df,
    "edges": edges_df,
    "expectations": expectations_df,
    "served": served_df,
    "journeys": journeys_df,
}


def to_dataframes(report: Report) -> dict[str, pd.DataFrame]:
    """Every table at once: phases, timeline, edges, expectations, served, journeys."""
    return {name: build(report) for name, build in TABLES.items()}


def phase_report(report: Report, name: str) -> PhaseReport:
    """The phase called `name`; UsageError naming the phases otherwise."""
    for p in report.phases:
        if p.name == name:
            return p
    names = ", ".join(p.name for p in report.phases)
    raise UsageError(f"no phase {name!r} in this report; expected one of {names}")
