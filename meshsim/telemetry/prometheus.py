"""One proxy's `/stats/prometheus`, parsed into what the edges need. Pure.

The text is read with `prometheus_client.parser` (never by hand). What is
kept, per outbound cluster (Istio-like stat names such as
`outbound_80_v2_product`, see `meshsim.control.envoy.stat_name`):

- the counters `meshsim.telemetry.envoy_stats.ClusterDelta` holds, under the
  same names (`requests`, `attempts`, `rq_2xx`, `rq_5xx`, `retries`, ...);
- `upstream_rq_time`, Envoy's per-attempt latency histogram in ms, as a
  `Buckets` (non-cumulative counts per upper bound).

And per direction of the proxy's listeners (`inbound`, `outbound`), the
faults its fault filters injected. Envoy's tag extraction cuts Istio-style
listener prefixes (`inbound_0.0.0.0_80`) at the first dot, so the direction
is what survives: the prefix label's first word.

`STATS_FILTER` asks Envoy for these only (`/stats/prometheus?usedonly&filter=`):
~60 lines from a sidecar instead of ~2,600.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

STATS_FILTER = (
    r"^cluster\.outbound_[^.]*\.(upstream_rq_(completed|total|[245]xx|retry|timeout"
    r"|per_try_timeout|pending_overflow|time)|upstream_cx_connect_fail"
    r"|outlier_detection\.ejections_enforced_total)$|\.fault\."
)
_CLUSTER_LABEL = "envoy_cluster_name"
_PREFIX_LABEL = "envoy_http_conn_manager_prefix"
_CODE_CLASS_LABEL = "envoy_response_code_class"
_HISTOGRAM = "envoy_cluster_upstream_rq_time"

# Counter name without `_total` → ClusterDelta field (as envoy_stats maps Envoy's
# names). The parser names every counter sample `<name>_total`, so Envoy's own
# `upstream_rq_total` is `envoy_cluster_upstream_rq` here, as is the per-code
# `upstream_rq_200` (`envoy_cluster_upstream_rq{envoy_response_code="200"}`,
# told apart by that label).
CLUSTER_SAMPLES = {
    "envoy_cluster_upstream_rq_completed": "requests",
    "envoy_cluster_upstream_rq": "attempts",
    "envoy_cluster_upstream_rq_retry": "retries",
    "envoy_cluster_upstream_rq_timeout": "timeouts",
    "envoy_cluster_upstream_rq_per_try_timeout": "per_try_timeouts",
    "envoy_cluster_upstream_rq_pending_overflow": "pending_overflow",
    "envoy_cluster_upstream_cx_connect_fail": "connect_failures",
    "envoy_cluster_outlier_detection_ejections_enforced": "ejections",
}
_CODE_CLASSES = {"2": "rq_2xx", "4": "rq_4xx", "5": "rq_5xx"}


@dataclass
class Buckets:
    """A latency histogram: count per bucket (upper bound in ms, `inf` last) and the sum.

    A bucket's lower bound is the bound before it, so empty buckets are kept
    wherever they are the lower bound of a non-empty one: `{1: 0, 5: 4}`
    holds 4 calls between 1 and 5 ms, `{5: 4}` 4 calls between 0 and 5 ms.
    (Envoy puts a call in the first bucket whose bound is at or above the
    upper edge of the call's own ~2-significant-digit bin: a 25 ms call is
    counted under le=50, so in practice a bucket holds [lower, upper).)

    >>> b = Buckets({1.0: 50, 5.0: 40, 10.0: 10}, total_ms=250.0)
    >>> b.quantile(0.5), b.quantile(0.99)
    (1.0, 9.5)
    """

    counts: dict[float, int] = field(default_factory=dict)
    total_ms: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def delta(self, before: Buckets | None) -> Buckets:
        """What was recorded since `before`; a histogram that went back (Envoy
        restarted) counts from zero, as counters do."""
        if before is None:
            return Buckets(dict(self.counts), self.total_ms)
        moved = {le: n - before.counts.get(le, 0) for le, n in self.counts.items()}
        if any(v < 0 for v in moved.values()):
            return Buckets(dict(self.counts), self.total_ms)
        # Empty buckets stay: each is the lower bound of the bucket after it.
        return Buckets(moved, self.total_ms - before.total_ms)

    def merge(self, other: Buckets) -> Buckets:
        counts = dict(self.counts)
        for le, n in other.counts.items():
            counts[le] = counts.get(le, 0) + n
        return Buckets(counts, self.total_ms + other.total_ms)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1), interpolated linearly inside its bucket as
        Prometheus' `histogram_quantile` does; None without observations. In
        the last (+Inf) bucket it is the highest finite bound."""
        total = self.count
        if not total:
            return None
        rank = q * total
        seen = 0
        lower = 0.0
        bounds = sorted(self.counts)
        for le in bounds:
            n = self.counts[le]
            if n and seen + n >= rank:
                if math.isinf(le):
                    return lower
                return round(lower + (le - lower) * (rank - seen) / n, 3)
            seen += n
            if not math.isinf(le):
                lower = le
        return lower

    def mean(self) -> float | None:
        return round(self.total_ms / self.count, 3) if self.count else None

    def to_json(self) -> dict[str, Any]:
        """`{"buckets": {"3": 0, "5": 12, "+Inf": 1}, "sum_ms": 83.2}`: empty
        buckets are left out unless one is the lower bound of a non-empty one
        (here: the 12 calls took 3 to 5 ms, not 0 to 5)."""
        bounds = sorted(self.counts)
        kept = {
            le
            for i, le in enumerate(bounds)
            if self.counts[le] or (i + 1 < len(bounds) and self.counts[bounds[i + 1]])
        }
        return {
            "buckets": {_le_text(le): self.counts[le] for le in bounds if le in kept},
            "sum_ms": round(self.total_ms, 3),
        }

    @classmethod
    def from_json(cls, raw: Any) -> Buckets | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("buckets"), dict):
            return None
        try:
            counts = {_le_value(k): int(v) for k, v in raw["buckets"].items()}
            return cls(counts, float(raw.get("sum_ms") or 0.0))
        except (TypeError, ValueError):
            return None


def _le_text(le: float) -> str:
    if math.isinf(le):
        return "+Inf"
    return f"{le:g}"


def _le_value(text: str) -> float:
    return math.inf if text in ("+Inf", "inf", "Inf") else float(text)


@dataclass
class ProxyMetrics:
    """What one scrape of one proxy says (cumulative since Envoy started)."""

    clusters: dict[str, dict[str, int]] = field(default_factory=dict)  # stat name → counters
    latency: dict[str, Buckets] = field(default_factory=dict)  # stat name → upstream_rq_time
    faults: dict[str, dict[str, int]] = field(default_factory=dict)  # direction → aborted/delayed

    def to_json(self) -> dict[str, Any]:
        clusters: dict[str, Any] = {name: dict(c) for name, c in sorted(self.clusters.items())}
        for name, buckets in self.latency.items():
            clusters.setdefault(name, {})["latency"] = buckets.to_json()
        out: dict[str, Any] = {"clusters": clusters}
        if self.faults:
            out["faults"] = self.faults
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProxyMetrics:
        out = cls()
        for name, counters in (raw.get("clusters") or {}).items():
            if not isinstance(counters, dict):
                continue
            buckets = Buckets.from_json(counters.get("latency"))
            if buckets is not None:
                out.latency[name] = buckets
            out.clusters[name] = {
                k: int(v) for k, v in counters.items() if k != "latency" and isinstance(v, int)
            }
        faults = raw.get("faults")
        if isinstance(faults, dict):
            out.faults = {k: dict(v) for k, v in faults.items() if isinstance(v, dict)}
        return out


def parse_proxy_metrics(text: str) -> ProxyMetrics:
    """Parse one `/stats/prometheus` answer (see the module doc)."""
    # imported here: the report and the dashboard read Buckets from this module
    # and never parse a scrape, and prometheus_client costs ~0.1 s to import
    from prometheus_client.parser import text_string_to_metric_families

    out = ProxyMetrics()
    cumulative: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if family.type == "counter":
                name = name.removesuffix("_total")
            cluster = labels.get(_CLUSTER_LABEL, "")
            if "fault_" in name and name.endswith("s_injected"):
                _fault(out, name, labels, value)
                continue
            if "envoy_response_code" in labels:
                continue  # per status code: the classes below are enough
            if not cluster.startswith("outbound_"):
                continue
            if name == _HISTOGRAM + "_bucket":
                cumulative.setdefault(cluster, {})[_le_value(labels.get("le", "+Inf"))] = value
            elif name == _HISTOGRAM + "_sum":
                out.latency.setdefault(cluster, Buckets()).total_ms = float(value)
            elif name in CLUSTER_SAMPLES:
                _add(out, cluster, CLUSTER_SAMPLES[name], value)
            elif name == "envoy_cluster_upstream_rq_xx":
                kind = _CODE_CLASSES.get(labels.get(_CODE_CLASS_LABEL, ""))
                if kind:
                    _add(out, cluster, kind, value)
    for cluster, by_le in cumulative.items():
        buckets = out.latency.setdefault(cluster, Buckets())
        previous = 0.0
        for le in sorted(by_le):
            buckets.counts[le] = int(round(by_le[le] - previous))
            previous = by_le[le]
    return out


def _add(out: ProxyMetrics, cluster: str, key: str, value: float) -> None:
    counters = out.clusters.setdefault(cluster, {})
    counters[key] = counters.get(key, 0) + int(value)


def _fault(out: ProxyMetrics, name: str, labels: dict[str, str], value: float) -> None:
    # Faults counted again under the caller's name would be counted twice.
    if any("downstream_cluster" in k for k in labels):
        return
    prefix = labels.get(_PREFIX_LABEL, "")
    direction = "inbound" if prefix.startswith("inbound") else "outbound"
    kind = "aborted" if name.endswith("aborts_injected") else "delayed"
    entry = out.faults.setdefault(direction, {"aborted": 0, "delayed": 0})
    entry[kind] += int(value)
