"""What changed in one sidecar between two snapshots of its Envoy stats. Pure.

A snapshot is `/stats?format=json` as name → value (what
`meshsim.control.admin.EnvoyAdmin.stats(STATS_FILTER)` returns). Clusters
carry Istio-like stat names (`outbound_80_v1_product`, see
`meshsim.control.envoy.stat_name`), so every counter below is per
destination and subset.

Measured with Envoy 1.40 (see tests/telemetry/test_envoy_stats.py):

- `upstream_rq_completed` counts every request the caller got an answer for,
  one per request however many retries it took, including Envoy's own
  answers (503 overflow, 504 timeout); `upstream_rq_total` counts attempts
  actually sent (retries in, circuit-breaker rejections out).
- `upstream_rq_<N>xx` counts final answers; a retried attempt's answer
  goes to `retry.upstream_rq_<N>xx` instead.
- A fault aborted in the caller's sidecar never reaches the cluster: it
  shows only as `http.<listener>.fault.aborts_injected`.
- A fault injected in the destination's sidecar is also counted under the
  calling service, `http.<listener>.fault.<caller>.aborts_injected`, because
  every sidecar names itself in `x-envoy-downstream-service-cluster`.
- A route to a cluster the proxy does not have (a subset no DestinationRule
  defines: Envoy's `NC` flag, `cluster_not_found`) is answered 503 by the
  router without touching any cluster: it shows only as
  `http.<listener>.no_cluster`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Everything the edge counters need, and nothing else (a sidecar has ~1,000 stats).
STATS_FILTER = r"^cluster\.outbound_|\.fault\.|^http\..+\.no_cluster$"

_CLUSTER = re.compile(r"^cluster\.(outbound_\d+_[a-z0-9-]*_[a-z0-9-]+)\.(.+)$")
_NO_CLUSTER = re.compile(r"^http\.(.+)\.no_cluster$")
_FAULT = re.compile(
    r"^http\.(.+?)\.fault\.(?:([A-Za-z0-9_-]+)\.)?(aborts_injected|delays_injected)$"
)

# counter name in Envoy → field of ClusterDelta
_CLUSTER_COUNTERS = {
    "upstream_rq_completed": "requests",
    "upstream_rq_total": "attempts",
    "upstream_rq_2xx": "rq_2xx",
    "upstream_rq_4xx": "rq_4xx",
    "upstream_rq_5xx": "rq_5xx",
    "upstream_rq_retry": "retries",
    "upstream_rq_timeout": "timeouts",
    "upstream_rq_per_try_timeout": "per_try_timeouts",
    "upstream_rq_pending_overflow": "pending_overflow",
    "upstream_cx_connect_fail": "connect_failures",
    "outlier_detection.ejections_enforced_total": "ejections",
}


@dataclass(frozen=True)
class ClusterDelta:
    """One outbound cluster of one sidecar: counters moved between two snapshots."""

    cluster: str  # stat name, e.g. outbound_80_v1_product
    service: str  # destination service, e.g. product
    subset: str  # "" for the service's default cluster
    requests: int = 0
    attempts: int = 0
    rq_2xx: int = 0
    rq_4xx: int = 0
    rq_5xx: int = 0
    retries: int = 0
    timeouts: int = 0
    per_try_timeouts: int = 0
    pending_overflow: int = 0
    connect_failures: int = 0
    ejections: int = 0


@dataclass(frozen=True)
class FaultDelta:
    """Faults one fault filter (one listener) injected between two snapshots."""

    listener: str  # the HTTP connection manager's stat prefix, e.g. inbound_0.0.0.0_80
    source: str | None  # the calling service, when the request named it
    aborted: int = 0
    delayed: int = 0


def counter_delta(before: dict[str, int], after: dict[str, int], name: str) -> int:
    """How much a counter moved; a counter that went back (Envoy restarted)
    counts from zero."""
    now = after.get(name, 0)
    then = before.get(name, 0)
    return now - then if now >= then else now


def parse_cluster(stat_name: str) -> tuple[str, str, str] | None:
    """`outbound_80_v1_product` → ("80", "v1", "product"); None for other clusters."""
    if not stat_name.startswith("outbound_"):
        return None
    port, _, rest = stat_name.removeprefix("outbound_").partition("_")
    subset, _, service = rest.rpartition("_")
    if not port.isdigit() or not service:
        return None
    return port, subset, service


def cluster_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, ClusterDelta]:
    """Per outbound cluster (by stat name), the counters that matter for edges.

    >>> a = {"cluster.outbound_80_v2_product.upstream_rq_completed": 10}
    >>> b = {"cluster.outbound_80_v2_product.upstream_rq_completed": 25}
    >>> cluster_deltas(a, b)["outbound_80_v2_product"].requests
    15
    """
    moved: dict[str, dict[str, int]] = {}
    for name in after:
        m = _CLUSTER.match(name)
        if m is None or m.group(2) not in _CLUSTER_COUNTERS:
            continue
        value = counter_delta(before, after, name)
        if value:
            moved.setdefault(m.group(1), {})[_CLUSTER_COUNTERS[m.group(2)]] = value
    out: dict[str, ClusterDelta] = {}
    for cluster, counters in moved.items():
        parsed = parse_cluster(cluster)
        if parsed is not None:
            out[cluster] = ClusterDelta(cluster, parsed[2], parsed[1], **counters)
    return out


def fault_deltas(before: dict[str, int], after: dict[str, int]) -> list[FaultDelta]:
    """Faults injected per listener and, where known, per calling service.

    Envoy counts each fault twice when the request names its caller (once in
    total, once under the caller); the totals here are split so that nothing
    is counted twice: `source=None` holds only faults with no named caller.
    """
    by_key: dict[tuple[str, str | None], dict[str, int]] = {}
    for name in after:
        m = _FAULT.match(name)
        if m is None:
            continue
        value = counter_delta(before, after, name)
        kind = "aborted" if m.group(3) == "aborts_injected" else "delayed"
        key = (m.group(1), m.group(2))
        by_key.setdefault(key, {"aborted": 0, "delayed": 0})[kind] += value
    out: list[FaultDelta] = []
    for (listener, source), counts in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        if source is None:
            named = [c for (lst, src), c in by_key.items() if lst == listener and src is not None]
            counts = {k: v - sum(c[k] for c in named) for k, v in counts.items()}
        if counts["aborted"] or counts["delayed"]:
            out.append(FaultDelta(listener, source, counts["aborted"], counts["delayed"]))
    return out


def no_cluster_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Per listener (HCM stat prefix), the requests its router answered 503
    because the route's cluster does not exist (`NC`).

    >>> no_cluster_deltas({}, {"http.outbound_0.0.0.0_80.no_cluster": 4})
    {'outbound_0.0.0.0_80': 4}
    """
    out: dict[str, int] = {}
    for name in after:
        m = _NO_CLUSTER.match(name)
        if m is not None and (value := counter_delta(before, after, name)):
            out[m.group(1)] = value
    return out
