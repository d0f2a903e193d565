"""A scenario's expectation as a PromQL query on Istio's standard metrics
(`istio_requests_total`, `istio_request_duration_milliseconds`), for a drill
run on a cluster (docs/kubernetes.md). Pure.

meshsim judges from its own per-request records; on a cluster the nearest
equivalents are the proxies' metrics over the phase's window. Expectations
about Locust's own view (journeys, endpoints, cohorts) have none.

>>> promql("edge(order->product).error_rate < 1%", 30)[:29]
'`sum(rate(istio_requests_total'
"""

from __future__ import annotations

from meshsim.scenario.expect import parse_expectation

INGRESS = 'source_workload="istio-ingressgateway"'


def _rate(selector: str, window: str, extra: str = "") -> str:
    sel = ",".join(s for s in ('reporter="source"', selector, extra) if s)
    return f"sum(rate(istio_requests_total{{{sel}}}[{window}]))"


def promql(text: str, duration_s: float) -> str:
    """The query for one expectation (as markdown code), or why there is none."""
    exp = parse_expectation(text)
    window = f"{max(1, round(duration_s))}s"
    if exp.scope == "all":
        selector = INGRESS
    elif exp.scope == "edge" and exp.target:
        src, _, dst = exp.target.partition("->")
        source = INGRESS if src in ("ingress", "istio-ingressgateway") else f'source_canonical_service="{src}"'  # fmt: skip
        selector = f'{source},destination_canonical_service="{dst}"'
    elif exp.scope == "version" and exp.target and exp.metric == "share":
        service, _, version = exp.target.partition(":")
        dest = f'destination_canonical_service="{service}"'
        part = _rate(dest, window, f'destination_version="{version}"')
        return f"`{part} / {_rate(dest, window)}`"
    else:
        return "no equivalent in Istio's standard metrics"
    if exp.metric == "error_rate":
        errors = _rate(selector, window, 'response_code=~"5.."')
        return f"`{errors} / {_rate(selector, window)}`"
    if exp.metric == "rps":
        return f"`{_rate(selector, window)}`"
    if exp.metric in ("p50", "p90", "p95", "p99", "p999"):
        q = {"p50": "0.5", "p90": "0.9", "p95": "0.95", "p99": "0.99", "p999": "0.999"}[exp.metric]
        sel = f'reporter="source",{selector}'
        return (
            f"`histogram_quantile({q}, sum by (le) (rate("
            f"istio_request_duration_milliseconds_bucket{{{sel}}}[{window}])))`"
        )
    return "no equivalent in Istio's standard metrics"
