"""Edges of the service graph for one phase, from the sidecars' Envoy stats. Pure.

An edge is what one service saw calling another (or one version of it) in
a phase; it is what `edges.json` holds and the report copies into each
phase's `edges`::

    {"source": "order", "destination": "product", "destination_version": "v1",
     "requests": 812, "errors": 3, "retries": 40, "timeouts": 0,
     "pending_overflow": 0, "ejections": 1, "faults_aborted": 0, "faults_delayed": 0,
     "attempts": 852, "mirrored": 0}

`source` is the calling proxy's service (`istio-ingressgateway` for the
ingress). `requests` counts the calls the source made, answered or aborted
by a fault in its own sidecar; `errors` those that ended in a 5xx (Envoy's
own 503/504 included: overflow, no healthy host, connection failure,
timeout); `attempts` what was actually sent upstream, retries included.
`destination_version` is set when every instance the calls could reach runs
one version (a subset, or a service with one version). Calls copied by a
`mirror` are counted in `mirrored` only, so they never change a share.
Calls routed to a cluster the caller does not have (a subset no
DestinationRule defines: Envoy's `NC`, answered 503 by the caller's own
router) reach no cluster either: they count in `no_cluster` and among the
requests, errors and `rq_5xx` of the edge to that service (no version).

`rq_2xx`, `rq_4xx`, `rq_5xx` count final answers by class (a caller-side
fault abort in its class), and `unclassified` the rest, so that `requests`
is always their sum: calls Envoy completed without charging a status class
to the cluster. Measured: 0 in a phase whose configuration did not change;
a few (5 to 15 of ~1,300) in a phase whose DestinationRule replaced the
cluster while calls were in flight on its drained connections (the access
log shows them answered). With the phase's duration and the sidecars'
latency histograms (`meshsim.telemetry.prometheus.Buckets`, from
`/stats/prometheus`), each edge also gets::

    "error_rate": 0.0037, "rps": 54.1,
    "latency_ms": {"p50": 2.4, "p90": 4.1, "p99": 9.8, "mean": 2.9},
    "latency_histogram": {"buckets": {"2": 310, "3": 402, ...}, "sum_ms": 2350.1}

Latency is Envoy's `upstream_rq_time` in the caller's sidecar: from the
first byte sent upstream to the last byte of the answer, per attempt,
whole milliseconds, estimated from buckets (linear inside a bucket).
`latency_ms` is null when no call was timed (every call aborted by a fault
in the caller, or no histogram data: telemetry off).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshsim.control.envoy import stat_name
from meshsim.telemetry.envoy_stats import ClusterDelta, FaultDelta, parse_cluster
from meshsim.telemetry.prometheus import Buckets

INBOUND_PREFIX = "inbound_"  # stat prefix of every sidecar's inbound listener
EDGE_COUNTERS = (
    "requests",
    "errors",
    "retries",
    "timeouts",
    "pending_overflow",
    "ejections",
    "faults_aborted",
    "faults_delayed",
    "attempts",
    "mirrored",
    "rq_2xx",
    "rq_4xx",
    "rq_5xx",
    "no_cluster",
    "unclassified",
)
LATENCY_QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


@dataclass
class ProxyView:
    """What the edge builder needs to know about one proxy's configuration."""

    name: str
    service: str  # the source name of its calls
    version: str | None = None
    # destination service → HTTP status of a fault aborted in this proxy (None: delay only)
    caller_faults: dict[str, int | None] = field(default_factory=dict)
    mirror_only: set[str] = field(default_factory=set)  # cluster stat names used only as mirrors
    # destination services some route of this proxy sends to a cluster it lacks (NC)
    unrouted: set[str] = field(default_factory=set)


@dataclass
class EdgeContext:
    """The mesh as the edges need it: proxies and the version behind each cluster."""

    proxies: dict[str, ProxyView]
    cluster_versions: dict[str, str | None]  # cluster stat name → its one version, or None


def _route_clusters(route: dict[str, Any]) -> list[str]:
    action = route.get("route") or {}
    if "cluster" in action:
        return [action["cluster"]]
    return [c["name"] for c in action.get("weighted_clusters", {}).get("clusters", [])]


def proxy_view(
    name: str,
    service: str,
    version: str | None,
    caller_routes: Iterable[dict[str, Any]],
    has_clusters: Iterable[str] | None = None,
) -> ProxyView:
    """Read a proxy's caller-side route configuration (outbound or ingress);
    `has_clusters` (the names of those it has) tell which routes lead nowhere."""
    view = ProxyView(name, service, version)
    targets: set[str] = set()
    mirrors: set[str] = set()
    for rc in caller_routes:
        for vhost in rc.get("virtual_hosts", []):
            for route in vhost.get("routes", []):
                clusters = _route_clusters(route)
                targets.update(clusters)
                action = route.get("route") or {}
                mirrors.update(p["cluster"] for p in action.get("request_mirror_policies", []))
                fault = (route.get("typed_per_filter_config") or {}).get("envoy.filters.http.fault")
                if not fault:
                    continue
                status = (fault.get("abort") or {}).get("http_status")
                for cluster in clusters:
                    dest = cluster.split("|")[3].split(".", 1)[0]
                    if view.caller_faults.get(dest) is None:
                        view.caller_faults[dest] = status
    view.mirror_only = {stat_name(c) for c in mirrors - targets if c.count("|") == 3}
    if has_clusters is not None:
        missing = targets - set(has_clusters)
        view.unrouted = {c.split("|")[3].split(".", 1)[0] for c in missing if c.count("|") == 3}
    return view


@dataclass
class _Edge:
    source: str
    destination: str
    destination_version: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EDGE_COUNTERS, 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "destination_version": self.destination_version,
            **self.counts,
        }


class _Graph:
    def __init__(self) -> None:
        self.edges: dict[tuple[str, str, str | None], _Edge] = {}

    def get(self, source: str, dest: str, version: str | None) -> _Edge:
        key = (source, dest, version)
        if key not in self.edges:
            self.edges[key] = _Edge(source, dest, version)
        return self.edges[key]

    def between(self, source: str, dest: str) -> list[_Edge]:
        return [e for (s, d, _), e in self.edges.items() if s == source and d == dest]


def split(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, in whole numbers that add up to it.

    >>> split(10, [1, 1, 1])
    [4, 3, 3]
    """
    if not weights:
        return []
    if not any(weights):
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(parts)), key=lambda i: parts[i] - exact[i])
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def build_edges(
    context: EdgeContext,
    clusters: dict[str, dict[str, ClusterDelta]],
    faults: dict[str, list[FaultDelta]],
    *,
    latency: dict[str, dict[str, Buckets]] | None = None,
    duration_s: float | None = None,
    no_cluster: dict[str, dict[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """The edges of one phase from every proxy's deltas (proxy → deltas).

    Faults aborted in a caller's sidecar go to the destination whose routes
    carry the fault there. Envoy counts them per listener, so when one caller
    has faults towards several services at once, or towards several versions,
    they are split in proportion to its requests to each.

    `latency` (proxy → cluster stat name → histogram delta) and `duration_s`
    add the derived keys of the module doc. `no_cluster` (proxy → listener →
    requests answered `NC`) goes to the services its routes send to a
    missing cluster, split evenly when there are several.
    """
    graph = _Graph()
    for proxy, deltas in clusters.items():
        view = context.proxies.get(proxy)
        if view is None:
            continue
        for delta in deltas.values():
            version = context.cluster_versions.get(delta.cluster)
            e = graph.get(view.service, delta.service, version)
            if delta.cluster in view.mirror_only:
                e.counts["mirrored"] += delta.requests
                continue
            e.counts["requests"] += delta.requests
            e.counts["errors"] += delta.rq_5xx
            e.counts["retries"] += delta.retries
            e.counts["timeouts"] += delta.timeouts
            e.counts["pending_overflow"] += delta.pending_overflow
            e.counts["ejections"] += delta.ejections
            e.counts["attempts"] += delta.attempts
            e.counts["rq_2xx"] += delta.rq_2xx
            e.counts["rq_4xx"] += delta.rq_4xx
            e.counts["rq_5xx"] += delta.rq_5xx
    for proxy, fault_list in faults.items():
        view = context.proxies.get(proxy)
        if view is None:
            continue
        for f in fault_list:
            if not f.listener.startswith(INBOUND_PREFIX):
                _caller_fault(graph, f, view)
            elif f.source is not None:
                _destination_fault(graph, f, f.source, view)
    for proxy, by_listener in (no_cluster or {}).items():
        view = context.proxies.get(proxy)
        if view is not None:
            _no_cluster(graph, view, by_listener)
    timed = _edge_latency(context, latency or {})
    ordered = sorted(
        graph.edges.values(), key=lambda e: (e.source, e.destination, e.destination_version or "")
    )
    out = []
    for e in ordered:
        if not any(e.counts.values()):
            continue
        classed = sum(e.counts[k] for k in ("rq_2xx", "rq_4xx", "rq_5xx"))
        e.counts["unclassified"] = max(0, e.counts["requests"] - classed)
        edge = e.to_dict()
        if latency is not None or duration_s is not None:
            add_derived(
                edge, timed.get((e.source, e.destination, e.destination_version)), duration_s
            )
        out.append(edge)
    return out


def _edge_latency(
    context: EdgeContext, latency: dict[str, dict[str, Buckets]]
) -> dict[tuple[str, str, str | None], Buckets]:
    """Histogram deltas summed per edge, keyed as the edges are."""
    out: dict[tuple[str, str, str | None], Buckets] = {}
    for proxy, by_cluster in latency.items():
        view = context.proxies.get(proxy)
        if view is None:
            continue
        for cluster, buckets in by_cluster.items():
            parsed = parse_cluster(cluster)
            if parsed is None or cluster in view.mirror_only or not buckets.count:
                continue
            key = (view.service, parsed[2], context.cluster_versions.get(cluster))
            out[key] = out[key].merge(buckets) if key in out else buckets
    return out


def latency_summary(buckets: Buckets | None) -> dict[str, float | None] | None:
    """p50/p90/p99 and mean of a histogram in ms; None without observations."""
    if buckets is None or not buckets.count:
        return None
    summary = {name: buckets.quantile(q) for name, q in LATENCY_QUANTILES.items()}
    summary["mean"] = buckets.mean()
    return summary


def add_derived(edge: dict[str, Any], buckets: Buckets | None, duration_s: float | None) -> None:
    """Add error_rate, rps, latency_ms and latency_histogram to one edge, in place."""
    requests = int(edge.get("requests") or 0)
    edge["error_rate"] = round(edge.get("errors", 0) / requests, 6) if requests else None
    edge["rps"] = round(requests / duration_s, 3) if duration_s else None
    edge["latency_ms"] = latency_summary(buckets)
    edge["latency_histogram"] = buckets.to_json() if buckets is not None and buckets.count else None


def _destination_fault(graph: _Graph, f: FaultDelta, source: str, view: ProxyView) -> None:
    """A fault injected in `view`'s own sidecar on a call from `source`: the
    caller saw it as a real answer, already among its requests and errors."""
    key = (source, view.service, view.version)
    target = graph.edges.get(key) or graph.get(source, view.service, None)
    target.counts["faults_aborted"] += f.aborted
    target.counts["faults_delayed"] += f.delayed


def _caller_fault(graph: _Graph, f: FaultDelta, view: ProxyView) -> None:
    """A fault injected in the caller's sidecar: aborted calls never reached a
    cluster, so they are added to the edge's requests (and errors when 5xx)."""
    dests = sorted(view.caller_faults)
    sent = [sum(e.counts["requests"] for e in graph.between(view.service, d)) for d in dests]
    for dest, aborted, delayed in zip(
        dests, split(f.aborted, sent), split(f.delayed, sent), strict=True
    ):
        candidates = graph.between(view.service, dest) or [graph.get(view.service, dest, None)]
        weights = [e.counts["requests"] for e in candidates]
        status = view.caller_faults[dest]
        for e, a, d in zip(
            candidates, split(aborted, weights), split(delayed, weights), strict=True
        ):
            e.counts["faults_aborted"] += a
            e.counts["faults_delayed"] += d
            e.counts["requests"] += a
            if status is not None and status >= 500:
                e.counts["errors"] += a
            if status is not None and 200 <= status < 600 and status // 100 in (2, 4, 5):
                e.counts[f"rq_{status // 100}xx"] += a


def _no_cluster(graph: _Graph, view: ProxyView, by_listener: dict[str, int]) -> None:
    """Calls `view`'s router answered 503 for lack of a cluster: requests and
    errors of the edge to the service the route named (no version: the
    subset does not exist)."""
    total = sum(n for lst, n in by_listener.items() if not lst.startswith(INBOUND_PREFIX))
    dests = sorted(view.unrouted) or ["unknown"]
    for dest, n in zip(dests, split(total, [1] * len(dests)), strict=True):
        if not n:
            continue
        e = graph.get(view.service, dest, None)
        for key in ("no_cluster", "requests", "errors", "rq_5xx"):
            e.counts[key] += n
