"""Numbers for people: the same rendering in the terminal, Markdown, HTML and JUnit."""

from __future__ import annotations

from meshsim.report.model import PASS, RUN_ERROR, ExpectationResult, PhaseReport, Report

NA = "–"
_OPS = {"==": "=", "<=": "≤", ">=": "≥"}


def ms(value: float | None) -> str:
    """Milliseconds, precise where it matters: "0.842 ms", "5.03 ms", "212.5 ms", "1,520 ms"."""
    if value is None:
        return NA
    if value >= 1000:
        return f"{value:,.0f} ms"
    decimals = 3 if value < 1 else 2 if value < 10 else 1
    return f"{_trim(f'{value:.{decimals}f}')} ms"


def _trim(number: str) -> str:
    """Drop trailing zeros: 5.00 -> 5, 5.10 -> 5.1."""
    return number.rstrip("0").rstrip(".") if "." in number else number


def percent(fraction: float | None) -> str:
    """A fraction as a percentage: 0.0042 -> "0.42%"."""
    if fraction is None:
        return NA
    value = fraction * 100
    if value == int(value):
        return f"{value:.0f}%"
    return f"{value:.2f}%" if value < 10 else f"{value:.1f}%"


def number(value: float | None) -> str:
    if value is None:
        return NA
    return _trim(f"{value:,.1f}")


def seconds(value: float | None) -> str:
    if value is None:
        return NA
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(value, 60)
    return f"{minutes:.0f}m{rest:02.0f}s"


def settle(value: float) -> str:
    """A phase's settle as its scenario would write it: 2.0 -> "2s", 0.55 -> "0.55s"."""
    return f"{round(value, 3):g}s"


def value(amount: float | None, unit: str, metric: str | None = None) -> str:
    """A value of an expectation's metric in its unit ("ms", "fraction" or "")."""
    if unit == "ms":
        return ms(amount)
    if unit == "fraction":
        return percent(amount)
    text = number(amount)
    return f"{text} req/s" if metric == "rps" and amount is not None else text


def observed(result: ExpectationResult) -> str:
    return value(result.observed, result.unit, result.metric)


def expected(result: ExpectationResult) -> str:
    """What the expectation asked for: "< 300 ms", "= 10% ± 3%"; the text if unparsed."""
    if result.op is None or result.expected is None:
        return result.expr
    text = f"{_OPS.get(result.op, result.op)} {value(result.expected, result.unit, result.metric)}"
    if result.tolerance is not None:
        text += f" ± {value(result.tolerance, result.unit)}"
    return text


def outcome(result: ExpectationResult) -> str:
    """What a failure message says: "observed 312 ms, expected < 300 ms" (+ the note)."""
    seen = "no value observed" if result.observed is None else f"observed {observed(result)}"
    text = f"{seen}, expected {expected(result)}"
    return f"{text} ({result.note})" if result.note else text


# What the `served` column counts, and how `version(...).share` relates to it
# (docs/report.md); said under the tables that show it.
SERVED_MEANING = (
    "served: the version that answered each of the load's requests, at every hop "
    "(x-served-by, x-upstreams); version(svc:v).share counts every call to svc the "
    "same way, the ingress gateway's included"
)


def served(phase: PhaseReport) -> str:
    """Who served the phase: product v1 90% · v2 10%; user v1 100%."""
    if phase.stats is None:
        return NA
    parts = []
    for service, versions in phase.stats.served.items():
        total = sum(versions.values()) or 1
        shares = " · ".join(f"{v} {percent(n / total)}" for v, n in versions.items())
        parts.append(f"{service} {shares}")
    return "; ".join(parts) or NA


def trace_keeping(report: Report) -> str | None:
    """Which traces the run kept (run.json's trace_keeping): "traces kept: 1,214
    of 58,200 (errors 310, slowest 420, sample 484): every error, the 10
    slowest per phase and endpoint, 10 % of the rest"; None when the run
    kept no such counts (tracing off, or a run from before the policy)."""
    k = report.trace_keeping
    if not k:
        return None

    def n(key: str) -> str:
        value = k.get(key)
        return f"{value:,}" if isinstance(value, int) else "?"

    line = (
        f"traces kept: {n('kept')} of {n('seen')} (errors {n('kept_error')}, slowest "
        f"{n('kept_slowest')}, sample {n('kept_sample')})"
    )
    described = k.get("described")
    return f"{line}: {described}" if isinstance(described, str) else line


def settled(phase: PhaseReport) -> str | None:
    """What a phase with a `settle` judged, beside the whole phase:
    "crash judged after a 2s settle: 1,204 requests, errors 0%, p99 21.4 ms
    (whole phase: errors 0.42%, p99 35.1 ms)"; None without a settle."""
    part = phase.settled
    if part is None:
        return None
    head = f"{phase.name} judged after a {settle(part.settle_s)} settle"
    if part.start_s is None:
        return f"{head}: the phase ended before it, so nothing was"
    t, whole = part.traffic, phase.traffic
    return (
        f"{head}: {number(t.requests)} requests, errors {percent(t.error_rate)}, "
        f"p99 {ms(t.latency.p99)} (whole phase: errors {percent(whole.error_rate)}, "
        f"p99 {ms(whole.latency.p99)})"
    )


def verdict_word(report: Report) -> str:
    """PASS, FAIL, or ERROR when the mesh could not run (exit codes 0, 1, 3)."""
    return "ERROR" if report.status == RUN_ERROR else "PASS" if report.verdict == PASS else "FAIL"


def verdict_line(report: Report) -> str:
    """One line CI logs and summaries start with: "FAIL: demo: 3 of 4 expectations held"."""
    return f"{verdict_word(report)}: {verdict_detail(report)}"


def verdict_detail(report: Report) -> str:
    """The verdict line without its PASS/FAIL word."""
    if report.status == RUN_ERROR:
        why = " ".join((report.error or "see the run's logs").split())  # one line, for headings
        return f"{report.scenario}: the mesh could not run: {why}"
    results = [e for _, e in report.expectations]
    held = sum(e.passed for e in results)
    text = f"{report.scenario}: {held} of {len(results)} expectations held"
    problems = [p for p in report.phases if p.status != "completed"]
    if problems:
        text += "; " + ", ".join(f"phase {p.name} {p.status.replace('_', ' ')}" for p in problems)
    elif report.status != "completed":
        text += f"; run {report.status}"
    return text
