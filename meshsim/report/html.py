"""report.html: one self-contained page to open from a CI artifact, offline.

No scripts, fonts, images or stylesheets from anywhere else: CSS sits in a
<style> tag and the charts are inline SVG (see svg.py for why not a plotting
library). Every text that comes from a run is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import meshsim.report.format as fmt
from meshsim import __version__, rundir
from meshsim.report.graph_svg import graph_svg
from meshsim.report.model import PASS, PhaseReport, Report
from meshsim.report.stats import Traffic
from meshsim.report.svg import Band, Series, line_chart
from meshsim.report.text import html_text as escape

FILENAME = rundir.REPORT_HTML

CSS = """
:root { --pass: #15803d; --fail: #b91c1c; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #111827; background: #f9fafb; margin: 0; padding: 24px; }
main { max-width: 1040px; margin: 0 auto; }
header.verdict { border-radius: 10px; padding: 16px 20px; color: #fff; }
header.pass { background: var(--pass); } header.fail { background: var(--fail); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .95; }
dl.meta { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 10px 0 0; font-size: 13px; }
dl.meta dt { opacity: .8; } dl.meta dd { margin: 0 0 0 4px; font-weight: 600; }
dl.meta div { display: flex; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
          padding: 12px 18px; margin-top: 18px; }
h2 { font-size: 17px; margin: 4px 0 10px; } h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.ok { color: var(--pass); font-weight: 600; } .bad { color: var(--fail); font-weight: 600; }
.skip { color: var(--muted); } .note { color: var(--muted); font-size: 12px; }
.badge { border-radius: 9px; padding: 1px 8px; font-size: 12px; background: #eef2ff; }
.badge.interrupted, .badge.not_run, .badge.error { background: #fee2e2; color: var(--fail); }
details > summary { cursor: pointer; font-weight: 600; font-size: 15px; padding: 6px 0; }
figure { margin: 6px 0 14px; } figcaption { font-weight: 600; margin-bottom: 2px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.graph { max-width: 760px; }
footer { color: var(--muted); font-size: 12px; margin: 18px 0; text-align: center; }
"""


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()
) -> str:
    """Rows of already-escaped cells; the `numeric` columns align right."""
    right = set(numeric)

    def cell(tag: str, i: int, content: str) -> str:
        return (
            f'<{tag} class="num">{content}</{tag}>' if i in right else f"<{tag}>{content}</{tag}>"
        )

    head = "".join(cell("th", i, escape(h)) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _header(report: Report) -> str:
    verdict = "pass" if report.verdict == PASS else "fail"
    meta = [
        ("run", report.run_id),
        ("runtime", report.runtime),
        ("started", report.started_at or "?"),
        ("duration", fmt.seconds(report.duration_s)),
        ("mesh ready in", fmt.seconds(report.ready_s)),
        ("requests", fmt.number(report.totals.requests)),
    ]
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in meta)
    kept = fmt.trace_keeping(report)
    note = f'<p class="note">{escape(kept)}</p>' if kept else ""
    return (
        f'<header class="verdict {verdict}"><h1>{fmt.verdict_word(report)} · {escape(report.scenario)}</h1>'
        f'<p>{escape(fmt.verdict_detail(report))}</p><dl class="meta">{items}</dl>{note}</header>'
    )


def _charts(report: Report) -> str:
    bands = [
        Band(
            p.start_s,
            p.end_s,
            p.name if p.status == "completed" else f"{p.name} ({p.status})",
            interrupted=p.status != "completed",
            settled=p.settled.start_s if p.settled else None,
        )
        for p in report.phases
        if p.start_s is not None and p.end_s is not None
    ]
    half = report.bucket_s / 2  # plot each bucket at its middle
    points = report.timeline
    latency = line_chart(
        "Latency over time (p50, p99)",
        [
            Series("p50", [(p.t_s + half, p.p50_ms) for p in points]),
            Series("p99", [(p.t_s + half, p.p99_ms) for p in points]),
        ],
        bands,
        report.duration_s,
        lambda y: f"{y:g} ms",
        y_min_top=1.0,
    )
    errors = line_chart(
        "Error rate over time",
        [Series("error rate", [(p.t_s + half, p.error_rate) for p in points], color="#dc2626")],
        bands,
        report.duration_s,
        lambda y: f"{y * 100:g}%",
        y_min_top=0.01,
    )
    caption = f"per {report.bucket_s:g}-second bucket; dashed lines mark phase starts"
    if any(p.settled for p in report.phases):
        caption += "; shaded in yellow, the settle of a phase, which its expectations leave out"
    return (
        f'<section><h2>Over time</h2><p class="note">{escape(caption)}</p>'
        f"<figure><figcaption>Latency</figcaption>{latency}</figure>"
        f"<figure><figcaption>Error rate</figcaption>{errors}</figure></section>"
    )


def _expectations(report: Report) -> str:
    if not report.expectations:
        return "<section><h2>Expectations</h2><p>The scenario states no expectations.</p></section>"
    rows = []
    for phase, e in report.expectations:
        if e.skipped:
            verdict = '<span class="skip">skipped</span>'
        else:
            verdict = (
                '<span class="ok">✔ pass</span>' if e.passed else '<span class="bad">✘ fail</span>'
            )
        rows.append(
            [
                verdict,
                escape(phase.name),
                f"<code>{escape(e.expr)}</code>",
                escape(fmt.observed(e)),
                escape(fmt.expected(e)),
                f'<span class="note">{escape(e.note or "")}</span>',
            ]
        )
    table = _table(["", "phase", "expectation", "observed", "expected", "note"], rows, [3])
    return f"<section><h2>Expectations</h2>{table}</section>"


def _traffic_cells(t: Traffic) -> list[str]:
    return [
        escape(fmt.number(t.requests)),
        escape(fmt.number(t.rps)),
        escape(fmt.percent(t.error_rate)),
        escape(fmt.ms(t.latency.p50)),
        escape(fmt.ms(t.latency.p90)),
        escape(fmt.ms(t.latency.p99)),
        escape(fmt.ms(t.latency.max)),
    ]


_TRAFFIC_HEADERS = ["requests", "rps", "errors", "p50", "p90", "p99", "max"]


def _phases(report: Report) -> str:
    rows = [
        [
            escape(p.name),
            f'<span class="badge {escape(p.status)}">{escape(p.status.replace("_", " "))}</span>',
            escape(fmt.seconds(p.duration_s)),
            *_traffic_cells(p.traffic),
        ]
        for p in report.phases
    ]
    table = _table(["phase", "status", "duration", *_TRAFFIC_HEADERS], rows, range(2, 10))
    details = "".join(_phase_details(p) for p in report.phases)
    return f"<section><h2>Phases</h2>{table}{details}</section>"


def _phase_details(phase: PhaseReport) -> str:
    stats = phase.stats
    if stats is None:
        return ""
    parts = [_settled_note(phase)] if phase.settled else []
    parts.append(f"<h3>Endpoints</h3>{_named_traffic(stats.endpoints, 'endpoint')}")
    if stats.journeys:
        parts.append(f"<h3>Journeys</h3>{_named_traffic(stats.journeys, 'journey')}")
    if stats.cohorts:
        cohorts = {name: c.traffic for name, c in stats.cohorts.items()}
        parts.append(f"<h3>Cohorts</h3>{_named_traffic(cohorts, 'cohort')}")
    served_rows = []
    for service, versions in stats.served.items():
        total = sum(versions.values()) or 1
        for version, n in versions.items():
            served_rows.append(
                [escape(service), escape(version), fmt.number(n), fmt.percent(n / total)]
            )
    if served_rows:
        table = _table(["service", "version", "requests", "share"], served_rows, [2, 3])
        note = f'<p class="note">{escape(fmt.SERVED_MEANING)}</p>'
        parts.append(f"<h3>Served by version</h3>{table}{note}")
    if phase.graph:
        parts.append(
            "<h3>Service graph</h3>"
            f"<figure>{graph_svg(phase.graph)}{_graph_note(phase.graph)}</figure>"
        )
    if phase.edges:
        edge_rows = [
            [
                escape(f"{e.get('source', '?')} → {e.get('destination', '?')}"),
                escape(str(e.get("destination_version") or "")),
                escape(fmt.number(_num(e.get("requests")))),
                escape(fmt.number(_num(e.get("rps")))),
                escape(fmt.number(_num(e.get("errors")))),
                escape(fmt.percent(_num(e.get("error_rate")))),
                escape(fmt.ms(_latency(e, "p50"))),
                escape(fmt.ms(_latency(e, "p99"))),
                escape(fmt.number(_num(e.get("retries")))),
                escape(_edge_events(e)),
            ]
            for e in phase.edges
        ]
        table = _table(
            ["edge", "version", "requests", "rps", "errors", "error rate", "p50", "p99",
             "retries", "events"],
            edge_rows,
            range(2, 9),
        )  # fmt: skip
        parts.append(
            f"<h3>Edges</h3>{table}"
            '<p class="note">from the callers\' sidecars (Envoy counters); latency is '
            "Envoy's upstream_rq_time, estimated from its histogram buckets</p>"
        )
    if phase.critical_path:
        parts.append(_critical_path(phase.critical_path))
    is_open = " open" if not phase.passed else ""
    title = f"{phase.name} · {phase.status.replace('_', ' ')} · {fmt.seconds(phase.duration_s)}"
    return f"<details{is_open}><summary>{escape(title)}</summary>{''.join(parts)}</details>"


def _settled_note(phase: PhaseReport) -> str:
    """What the expectations judged: the phase after its settle."""
    settled = phase.settled
    assert settled is not None
    settle = fmt.settle(settled.settle_s)
    if settled.start_s is None:
        text = f"The phase ended before its {settle} settle: its expectations had nothing to judge."
    else:
        t = settled.traffic
        text = (
            f"Expectations judged after a {settle} settle, from {fmt.seconds(settled.start_s)} "
            f"({fmt.seconds(settled.duration_s)}): {fmt.number(t.requests)} requests, "
            f"errors {fmt.percent(t.error_rate)}, p99 {fmt.ms(t.latency.p99)}. "
            "The tables below cover the whole phase."
        )
    return f'<p class="note">{escape(text)}</p>'


def _latency(edge: dict[str, object], key: str) -> float | None:
    latency = edge.get("latency_ms")
    return _num(latency.get(key)) if isinstance(latency, dict) else None


_EVENTS = (
    ("timeouts", "timeouts"),
    ("pending_overflow", "overflows"),
    ("ejections", "ejections"),
    ("faults_aborted", "faults aborted"),
    ("faults_delayed", "faults delayed"),
    ("denied", "denied"),
    ("no_cluster", "no cluster (NC)"),
    ("mirrored", "mirrored"),
)


def _edge_events(edge: dict[str, object]) -> str:
    return ", ".join(
        f"{label} {fmt.number(_num(edge.get(key)))}"
        for key, label in _EVENTS
        if _num(edge.get(key))
    )


def _graph_note(graph: dict[str, object]) -> str:
    notes = []
    for key, label in (("missing", "declared, no traffic"), ("unexpected", "not declared")):
        pairs = graph.get(key)
        if isinstance(pairs, list) and pairs:
            notes.append(f"{label}: " + ", ".join(f"{a} → {b}" for a, b in pairs))
    idle = graph.get("idle")
    if isinstance(idle, list) and idle:
        notes.append("idle: " + ", ".join(str(n) for n in idle))
    if not notes:
        notes.append("the observed graph is the declared one")
    return f'<figcaption class="note">{escape("; ".join(notes))}</figcaption>'


def _critical_path(summary: dict[str, object]) -> str:
    by_service = summary.get("by_service")
    slowest = summary.get("slowest")
    if not isinstance(by_service, list) or not isinstance(slowest, list):
        return ""
    rows = []
    for entry in by_service:
        share = _num(entry.get("share"))
        bar = (
            f'<span style="display:inline-block;height:9px;width:{(share or 0) * 160:.0f}px;'
            'background:#2563eb;border-radius:2px"></span>'
        )
        rows.append(
            [
                escape(str(entry.get("service"))),
                escape(fmt.ms(_num(entry.get("self_ms")))),
                escape(fmt.percent(share)),
                bar,
            ]
        )
    table = _table(["service", "self time", "share", ""], rows, [1, 2])
    trace_rows = []
    for t in slowest:
        path = " | ".join(
            f"{step.get('label')} {fmt.ms(_num(step.get('self_ms')))}"
            for step in t.get("critical_path", [])
            if _num(step.get("self_ms"))
        )
        trace_rows.append(
            [
                f"<code>{escape(str(t.get('trace_id', ''))[:16])}</code>",
                escape(str(t.get("name"))),
                escape(str(t.get("status"))),
                escape(fmt.ms(_num(t.get("duration_ms")))),
                f'<span class="note">{escape(path)}</span>',
            ]
        )
    traces = _table(["trace", "request", "status", "duration", "critical path"], trace_rows, [3])
    n = summary.get("analysed")
    traced = summary.get("traced")
    return (
        f"<h3>Where the time went: the {n} slowest of {traced} traces kept</h3>"
        '<p class="note">self time of each service on the critical path (the chain of '
        "spans that decided each request's duration), summed; "
        "<code>meshsim traces RUN_DIR</code> draws any of them</p>"
        f"{table}{traces}"
    )


def _named_traffic(by_name: dict[str, Traffic], kind: str) -> str:
    rows = [[f"<code>{escape(name)}</code>", *_traffic_cells(t)] for name, t in by_name.items()]
    return (
        _table([kind, *_TRAFFIC_HEADERS], rows, range(1, 8)) if rows else '<p class="note">none</p>'
    )


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def render_html(report: Report) -> str:
    warnings = ""
    if report.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
        warnings = f"<section><h2>Warnings</h2><ul>{items}</ul></section>"
    title = f"meshsim · {report.scenario} · {report.verdict.upper()}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"{_header(report)}{_charts(report)}{_expectations(report)}{_phases(report)}{warnings}"
        f"<footer>meshsim {escape(__version__)} · run {escape(report.run_id)}</footer>"
        "</main></body></html>\n"
    )


def write_html(report: Report, out_dir: Path) -> Path:
    path = out_dir / FILENAME
    path.write_text(render_html(report), encoding="utf-8")
    return path
