"""Evaluating a phase's expectations against what was measured in it.

An expectation that cannot be measured fails, with `observed` None and a note
saying why: a check CI cannot perform must never turn into a silent pass. In
particular, rates and latencies over zero requests are unknown (not 0), while
`requests`, `failures` and `rps` over zero requests are a real 0.

Where the numbers come from, by scope:

- all, endpoint(...), journey(...), cohort(...): the load generator's
  request records.
- version(svc:v): `share` and `requests` count every call to the service,
  from the sidecars and the ingress gateway alike (`version_counts`): from
  edges.json when Envoy's counters say which version answered each caller's
  calls, else from the records' serving instance and upstreams; other metrics
  from the requests that version served itself as the entry service.
- edge(a->b): edges.json only; without it, "no edge data". Latencies come
  from the caller's sidecar (Envoy's `upstream_rq_time` histograms, merged
  over the destination's versions); they need telemetry on. An edge the
  phase's edges do not hold is no data either, even for `requests = 0`
  (a misspelt or unused edge must not pass), unless the phase carried no
  load at all: then its counts are a real 0.

A phase with a `settle` is judged on its settled part only (the records from
its settle point on, and its settled edges); `after_settle` says so in each
result's note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import meshsim.report.format as fmt
from meshsim.report.model import ExpectationResult
from meshsim.report.stats import LATENCY_KEYS, PhaseStats, Traffic
from meshsim.scenario.expect import EDGE_METRICS, Expectation
from meshsim.telemetry.prometheus import Buckets

NO_EDGE_DATA = "no edge data"
_Observation = tuple[float | None, str | None]


def evaluate(
    expectation: Expectation,
    stats: PhaseStats,
    edges: Sequence[dict[str, Any]] | None,
    duration_s: float,
) -> ExpectationResult:
    """Evaluate one expectation against one phase.

    `edges` is the phase's list from edges.json, or None when there is none.
    Example: `evaluate(parse_expectation("p99 < 300ms"), stats, None, 15.0)`.
    """
    scope, target = expectation.scope, expectation.target or ""
    if scope == "edge":
        observed, note = _edge(expectation.metric, target, edges, duration_s, stats)
    elif scope == "version":
        observed, note = _version(expectation.metric, target, stats, edges)
    elif scope == "endpoint":
        observed, note = _scoped(expectation.metric, stats.endpoints, target, "endpoint")
    elif scope == "journey":
        observed, note = _scoped(expectation.metric, stats.journeys, target, "journey")
    elif scope == "cohort":
        cohorts = {name: c.traffic for name, c in stats.cohorts.items()}
        observed, note = _scoped(expectation.metric, cohorts, target, "cohort")
    else:
        observed, note = _traffic(expectation.metric, stats.overall, "in this phase")
    return result(expectation, observed, note)


def result(
    expectation: Expectation, observed: float | None, note: str | None, *, skipped: bool = False
) -> ExpectationResult:
    passed = observed is not None and not skipped and expectation.check(observed)
    return ExpectationResult(
        expr=expectation.text,
        observed=observed,
        passed=passed,
        unit=expectation.unit,
        note=note,
        metric=expectation.metric,
        scope=expectation.scope,
        target=expectation.target,
        op=expectation.op,
        expected=expectation.value,
        tolerance=expectation.tolerance,
        skipped=skipped,
    )


def after_settle(judged: ExpectationResult, settle_s: float) -> ExpectationResult:
    """`judged`, marked as judged on the part of its phase after `settle_s`:
    the note starts with "after 2s settle"."""
    note = f"after {fmt.settle(settle_s)} settle"
    return dataclasses.replace(
        judged, note=f"{note}; {judged.note}" if judged.note else note, settle_s=settle_s
    )


def never_settled(expectation: Expectation, settle_s: float) -> ExpectationResult:
    """The phase ended (cut short) before its settle point: nothing to judge, so
    the expectation cannot be measured and fails."""
    why = f"the phase ended before its {fmt.settle(settle_s)} settle: nothing to judge"
    return dataclasses.replace(result(expectation, None, why), settle_s=settle_s)


def _traffic(metric: str, traffic: Traffic, where: str) -> _Observation:
    if metric == "requests":
        return float(traffic.requests), None
    if metric == "failures":
        return float(traffic.failures), None
    if metric == "rps":
        return traffic.rps, None
    if not traffic.requests:
        return None, f"no requests {where}"
    if metric == "error_rate":
        return traffic.error_rate, None
    if metric in LATENCY_KEYS:
        return traffic.latency.get(metric), None
    return None, f"{metric} cannot be measured here"


def _scoped(metric: str, by_name: dict[str, Traffic], target: str, kind: str) -> _Observation:
    traffic = by_name.get(target)
    if traffic is None:
        known = ", ".join(by_name) or "none"
        observed, _ = _traffic(metric, Traffic(), "")
        return observed, f"no requests for {kind} {target!r} in this phase (seen: {known})"
    return _traffic(metric, traffic, f"for {kind} {target!r}")


def _version(
    metric: str, target: str, stats: PhaseStats, edges: Sequence[dict[str, Any]] | None
) -> _Observation:
    service, _, version = target.partition(":")
    by_version, source, why = version_counts(service, stats, edges)
    total = sum(by_version.values())
    if metric == "requests":
        return float(by_version.get(version, 0)), why
    if metric == "share":
        if not total:
            return None, f"no requests to {service} in this phase ({why or source})"
        return round(by_version.get(version, 0) / total, 6), why
    traffic = stats.versions.get(target)
    if traffic is None:
        return None, (
            f"{target} served no requests itself as the entry service; behind another "
            "service only its share and requests are known"
        )
    return _traffic(metric, traffic, f"served by {target}")


def version_counts(
    service: str, stats: PhaseStats, edges: Sequence[dict[str, Any]] | None
) -> tuple[dict[str, int], str, str | None]:
    """Calls to `service` in a phase per version that answered them, from every
    caller: the sidecars and the ingress gateway alike. Returns the counts,
    where they come from ("edge data" or "request records") and, when the
    edges could not be used, why.

    Envoy's counters (the edges) name the version of a call when its cluster
    holds one version: a subset, or a service with one version. A caller whose
    calls went to the whole service only (a route without a subset; typically
    the ingress gateway when only the sidecars' VirtualService splits the
    service) leaves them unattributed, so the counts come from the load's
    records instead, which know the instance that answered each request. A
    caller that used subsets in the phase and the whole service too sent the
    latter before the phase's routes reached its proxy (they take ~0.1 s):
    those few calls are left out, as the previous phase's routing.

    >>> from meshsim.report.stats import phase_stats
    >>> edges = [{"source": "order", "destination": "product", "destination_version": "v2",
    ...           "requests": 10}]
    >>> version_counts("product", phase_stats([], 1.0), edges)
    ({'v2': 10}, 'edge data', None)
    """
    versioned: dict[str, int] = {}
    split_by: set[str] = set()  # callers with calls to one version
    whole: dict[str, int] = {}  # caller -> calls to the whole service
    for edge in edges or ():
        if edge.get("destination") != service:
            continue
        caller, version = str(edge.get("source")), edge.get("destination_version")
        requests = _int(edge.get("requests"))
        if isinstance(version, str):
            versioned[version] = versioned.get(version, 0) + requests
            if requests:
                split_by.add(caller)
        elif requests:
            whole[caller] = whole.get(caller, 0) + requests
    unsplit = {caller: n for caller, n in sorted(whole.items()) if caller not in split_by}
    if versioned and not unsplit:
        return versioned, "edge data", None
    served = stats.served.get(service, {})
    if not unsplit:
        return served, "request records", None
    calls = ", ".join(f"{caller} → {service} ({n} calls)" for caller, n in unsplit.items())
    return served, "request records", f"from the load's records: {calls} went to no subset"


def _edge(
    metric: str,
    target: str,
    edges: Sequence[dict[str, Any]] | None,
    duration_s: float,
    stats: PhaseStats,
) -> _Observation:
    if edges is None:
        return None, NO_EDGE_DATA
    source, _, destination = target.partition("->")
    matching = [
        e for e in edges if e.get("source") == source and e.get("destination") == destination
    ]
    if not matching and stats.overall.requests:
        seen = ", ".join(sorted({f"{e.get('source')}->{e.get('destination')}" for e in edges}))
        return None, f"{NO_EDGE_DATA}: no edge {target} in this phase (edges: {seen or 'none'})"
    requests = sum(_int(e.get("requests")) for e in matching)
    failures = sum(_int(e.get("errors", e.get("failures"))) for e in matching)
    if metric == "requests":
        return float(requests), None
    if metric == "failures":
        return float(failures), None
    if metric == "denied" and any("denied" not in e for e in matching):
        # counted from the callees' inbound access logs at the end of the run
        return (
            None,
            "no denials counted for this edge: they come from the callees' inbound access logs",
        )
    if metric in EDGE_METRICS:
        return float(sum(_int(e.get(metric)) for e in matching)), None
    if metric == "rps":
        return (round(requests / duration_s, 3) if duration_s > 0 else 0.0), None
    if not requests:
        return None, f"no requests on edge {target} in this phase"
    if metric == "error_rate":
        return round(failures / requests, 6), None
    latencies = [e.get("latency_ms") for e in matching]
    if len(matching) == 1 and isinstance(latencies[0], dict):
        value = latencies[0].get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), None
    merged = _edge_histogram(matching)
    if merged is not None and metric in _QUANTILES:
        return merged.quantile(_QUANTILES[metric]), None
    if merged is not None and metric == "mean":
        return merged.mean(), None
    if merged is not None and metric == "max":
        return None, "Envoy's histograms give percentiles, not the maximum"
    return None, f"edge data has no {metric} for {target}"


_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}


def _edge_histogram(edges: Sequence[dict[str, Any]]) -> Buckets | None:
    """The latency histograms of several edges (one per version) merged."""
    merged: Buckets | None = None
    for edge in edges:
        buckets = Buckets.from_json(edge.get("latency_histogram"))
        if buckets is not None:
            merged = buckets if merged is None else merged.merge(buckets)
    return merged if merged is not None and merged.count else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
