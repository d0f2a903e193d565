"""Per-hop overhead: app → app directly, and through two sidecars in plaintext and with mTLS.

The generator plays the client app of the `order` instance: for the mesh
variants it sends through order's sidecar (its outbound listener, as
`HTTP_PROXY`, absolute-form `GET http://product/products/1`), which routes to
a product instance's sidecar (inbound listener) and on to that app. The
server side is chosen by a header match in a VirtualService:

- `mtls`: product v1, whose PeerAuthentication is STRICT, so order's sidecar
  reaches it with Istio's auto mTLS;
- `plaintext`: product v2, whose PeerAuthentication is DISABLE, so the same
  hop runs without TLS;
- `direct`: the same request straight to product v1's app port.

Variants take turns in rounds (the order rotates each round), so drift of
the machine hits all of them alike, and every one is compared with `direct`
measured in the same rounds. The TLS handshake counters of order's sidecar
confirm each variant was what it claims.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from meshsim.bench.context import BenchContext
from meshsim.bench.generator import Segment, SegmentResult, Target, new_histogram
from meshsim.bench.stats import PERCENTILES, hist_ms, pkey
from meshsim.control import envoy as e
from meshsim.control.state import version_subsets

VARIANTS = ("direct", "plaintext", "mtls")
HEADER = "x-meshsim-bench"
PATH = "/products/1"


def hop_policies() -> list[dict[str, Any]]:
    """product v1 with STRICT mTLS, v2 with mTLS disabled, chosen by a header."""
    return [
        version_subsets("product"),
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "product"},
            "spec": {
                "hosts": ["product"],
                "http": [
                    {
                        "match": [{"headers": {HEADER: {"exact": "plaintext"}}}],
                        "route": [{"destination": {"host": "product", "subset": "v2"}}],
                    },
                    {"route": [{"destination": {"host": "product", "subset": "v1"}}]},
                ],
            },
        },
        _peer_auth("product-v1-strict", "v1", "STRICT"),
        _peer_auth("product-v2-plaintext", "v2", "DISABLE"),
    ]


def _peer_auth(name: str, version: str, mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "product", "version": version}},
            "mtls": {"mode": mode},
        },
    }


HOP_RESOURCES = [
    "DestinationRule/product",
    "VirtualService/product",
    "PeerAuthentication/product-v1-strict",
    "PeerAuthentication/product-v2-plaintext",
]


@dataclass
class HopVariant:
    name: str
    path: str
    requests: int
    errors: int
    achieved_rps: float
    latency_ms: dict[str, float]  # p50, p90, p99, p99.9, from the due send time
    added_ms: dict[str, float]  # latency_ms minus direct's, same percentiles
    rounds_added_ms: dict[str, list[float]] = field(default_factory=dict)  # p50/p99 per round
    generator_lag_p99_ms: float = 0.0
    generator_cpu: float = 0.0  # cores the generator used
    tls_handshakes: int | None = None  # order's sidecar, to product (None: no sidecar)
    other_cpu: float | None = None  # cores used by processes not ours, mean over rounds


@dataclass
class HopResult:
    rate: float
    rounds: int
    segment_s: float
    variants: list[HopVariant]

    def variant(self, name: str) -> HopVariant:
        return next(v for v in self.variants if v.name == name)


def _targets(ctx: BenchContext) -> dict[str, Target]:
    mesh = ctx.need_mesh()
    plan = mesh.plan
    client = plan.select("order:v1")[0]
    server = plan.select("product:v1")[0]
    proxy = f"http://{client.host}:{client.outbound_port}"
    return {
        "direct": Target(
            f"http://{server.host}:{server.app_port}{PATH}", headers={HEADER: "direct"}
        ),
        "plaintext": Target(f"http://product{PATH}", headers={HEADER: "plaintext"}, proxy=proxy),
        "mtls": Target(f"http://product{PATH}", headers={HEADER: "mtls"}, proxy=proxy),
    }


async def _handshakes(ctx: BenchContext) -> dict[str, int]:
    mesh = ctx.need_mesh()
    client = mesh.plan.select("order:v1")[0]
    session = await mesh.control.session()
    out = {}
    for subset in ("v1", "v2"):
        name = e.stat_name(e.outbound_cluster_name("product", subset))
        stats = await mesh.control.admin(client.name, session).stats(
            rf"^cluster\.{name}\.ssl\.handshake$"
        )
        out[subset] = sum(stats.values())
    return out


async def measure_hop(ctx: BenchContext) -> HopResult:
    c = ctx.config
    await ctx.apply(hop_policies())
    targets = _targets(ctx)
    per_round: dict[str, list[SegmentResult]] = {v: [] for v in VARIANTS}
    others: dict[str, list[float]] = {v: [] for v in VARIANTS}
    before = await _handshakes(ctx)
    for r in range(c.hop_rounds):
        order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
        for name in order:
            ctx.progress(
                f"per-hop overhead: round {r + 1}/{c.hop_rounds}, {name} at {c.rate:g} rps"
            )
            seg = Segment(targets[name], c.rate, c.hop_segment_s, warmup_s=c.warmup_s)
            res, other = await ctx.run(seg)
            per_round[name].append(res)
            others[name].append(other)
    after = await _handshakes(ctx)
    await ctx.apply([], remove=HOP_RESOURCES)
    result = summarize_hop(
        per_round,
        c.rate,
        c.hop_segment_s,
        {
            "direct": None,
            "plaintext": after["v2"] - before["v2"],
            "mtls": after["v1"] - before["v1"],
        },
    )
    for v in result.variants:
        v.other_cpu = round(statistics.fmean(others[v.name]), 2)
    return result


def summarize_hop(
    per_round: dict[str, list[SegmentResult]],
    rate: float,
    segment_s: float,
    handshakes: dict[str, int | None],
) -> HopResult:
    """Pool each variant's rounds and compare it with `direct` (pure)."""
    pooled = {}
    for name, results in per_round.items():
        hist = new_histogram()
        for res in results:
            hist.add(res.latency)
        pooled[name] = hist
    base = hist_ms(pooled["direct"])
    variants = []
    for name, results in per_round.items():
        lat = hist_ms(pooled[name])
        lag = new_histogram()
        for res in results:
            lag.add(res.lag)
        rounds_added: dict[str, list[float]] = {}
        for p in (50.0, 99.0):
            rounds_added[pkey(p)] = [
                round(res.percentile_ms(p) - d.percentile_ms(p), 3)
                for res, d in zip(results, per_round["direct"], strict=True)
            ]
        requests = sum(r.scheduled for r in results)
        variants.append(
            HopVariant(
                name=name,
                path=_describe(name),
                requests=requests,
                errors=sum(r.failed for r in results),
                achieved_rps=round(sum(r.ok for r in results) / (segment_s * len(results)), 1),
                latency_ms=lat,
                added_ms={pkey(p): round(lat[pkey(p)] - base[pkey(p)], 3) for p in PERCENTILES},
                rounds_added_ms=rounds_added,
                generator_lag_p99_ms=round(lag.get_value_at_percentile(99) / 1000.0, 3),
                generator_cpu=round(sum(r.cpu_s for r in results) / (segment_s * len(results)), 3),
                tls_handshakes=handshakes.get(name),
            )
        )
    return HopResult(rate, len(per_round["direct"]), segment_s, variants)


def _describe(name: str) -> str:
    return {
        "direct": "client → app",
        "plaintext": "client → sidecar → sidecar → app (plaintext)",
        "mtls": "client → sidecar → sidecar → app (mTLS)",
    }[name]
