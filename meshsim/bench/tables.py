"""A bench result as tables (title, columns, rows of strings): for the terminal
(meshsim.console.print_table) and as Markdown for docs/benchmarks.md. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from meshsim.bench.stats import PERCENTILES, pkey

if TYPE_CHECKING:
    from meshsim.bench.run import BenchResult

Table = tuple[str, list[str], list[list[str]]]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def hop_table(result: BenchResult) -> Table | None:
    hop = result.hop
    if hop is None:
        return None
    cols = ["variant", "requests", "errors"]
    cols += [f"{pkey(p)} ms" for p in PERCENTILES]
    cols += [f"added {pkey(p)}" for p in PERCENTILES]
    cols += ["TLS handshakes", "other CPU"]
    rows = []
    for v in hop.variants:
        row = [v.name, f"{v.requests:,}", str(v.errors)]
        row += [_ms(v.latency_ms[pkey(p)]) for p in PERCENTILES]
        row += ["–" if v.name == "direct" else _signed(v.added_ms[pkey(p)]) for p in PERCENTILES]
        row += ["–" if v.tls_handshakes is None else str(v.tls_handshakes)]
        row += ["–" if v.other_cpu is None else f"{v.other_cpu:.2f}"]
        rows.append(row)
    title = (
        f"Per-hop overhead at {hop.rate:g} rps ({hop.rounds} interleaved rounds of "
        f"{hop.segment_s:g} s per variant; latency from the due send time)"
    )
    return title, cols, rows


def chain_table(result: BenchResult) -> Table | None:
    chain = result.chain
    if chain is None:
        return None
    rows = []
    for w in chain.wirings:
        tried = ", ".join(f"{t.rate:g}{'✓' if t.passed else '✗'}" for t in w.trials)
        others = [t.other_cpu for t in w.trials if t.other_cpu is not None]
        rows.append(
            [
                w.wiring,
                f"{w.highest_rps:,.0f}",
                _ms(w.p99_ms),
                "–" if w.error_rate is None else f"{w.error_rate:.2%}",
                tried,
                f"{sum(others) / len(others):.2f}" if others else "–",
            ]
        )
    ratio = "–" if chain.ratio is None else f"{chain.ratio:.0%}"
    title = (
        f"Chain throughput: POST /orders, highest rate with errors < {chain.max_error_rate:.1%} "
        f"and p99 < {chain.max_p99_ms:g} ms ({chain.segment_s:g} s trials); mesh / no-sidecar = {ratio}"
    )
    cols = ["wiring", "highest rps", "p99 ms", "errors", "trials (rps)", "other CPU"]
    return title, cols, rows


def cost_table(result: BenchResult) -> Table | None:
    chain = result.chain
    if chain is None or not chain.cost:
        return None
    kinds = ["app", "sidecar", "ingress", "generator", "other"]
    rows = []
    for c in chain.cost:
        ours = sum(v for k, v in c.cpu_ms_per_order.items() if k != "other")
        rows.append(
            [c.wiring, _ms(c.p50_ms)]
            + [_ms(c.cpu_ms_per_order.get(k)) if k in c.cpu_ms_per_order else "–" for k in kinds]
            + [_ms(ours)]
        )
    rate = chain.cost[0].rate
    ratio = "–" if chain.cpu_ratio is None else f"{chain.cpu_ratio:.0%}"
    title = (
        f"CPU per order at {rate:g} rps, ms (other = everything else on the machine, "
        f"shared with other work); no-sidecar / mesh, apps and Envoys only = {ratio}"
    )
    return title, ["wiring", "p50 ms", *kinds, "total (ours)"], rows


def startup_table(result: BenchResult) -> Table | None:
    startup = result.startup
    if startup is None:
        return None
    rows = []
    for s in startup.shapes:
        rows.append(
            [
                s.name,
                str(s.instances),
                str(len(s.runs_s)),
                f"{s.summary_s['median']:.2f}",
                f"{s.summary_s['min']:.2f}",
                f"{s.summary_s['max']:.2f}",
                f"{sorted(s.in_process_s)[len(s.in_process_s) // 2]:.2f}",
            ]
        )
    cols = ["mesh", "instances", "runs", "median s", "min s", "max s", "Mesh.start() s"]
    return "Start-up: command → first order served through the ingress", cols, rows


def propagation_table(result: BenchResult) -> Table | None:
    prop = result.propagation
    if prop is None:
        return None
    f, a, e, c = prop.first_ms, prop.acked_ms, prop.from_sent_ms, prop.to_sent_ms
    rows = [
        [
            str(len(prop.trials)),
            _ms(f.get("median")),
            _ms(f.get("p90")),
            _ms(f.get("p99")),
            _ms(f.get("max")),
            _ms(e.get("median")),
            f"{_ms(c.get('median'))} / {_ms(c.get('max'))}",
            _ms(a.get("median")),
            f"{prop.requests:,}",
            str(prop.failed),
        ]
    ]
    cols = [
        "trials",
        "median ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "from routes sent (median) ms",
        "routes sent after (median / max) ms",
        "push acked (median) ms",
        "requests",
        "failed",
    ]
    title = (
        f"Policy propagation: route change written → first request served by the new "
        f"version (stream at {prop.rate:g} rps)"
    )
    return title, cols, rows


def memory_table(result: BenchResult) -> Table | None:
    mem = result.memory
    if mem is None:
        return None
    rows = []
    for kind in ("app", "sidecar", "ingress"):
        idle = mem.summary.get("idle", {}).get(kind)
        load = mem.summary.get("load", {}).get(kind)
        if idle is None:
            continue
        rows.append(
            [
                kind,
                f"{idle['count']:.0f}",
                f"{idle['rss_mean']:.1f}",
                f"{idle['rss_max']:.1f}",
                f"{idle.get('uss_mean', 0):.1f}",
                f"{load['rss_mean']:.1f}" if load else "–",
                f"{load['rss_max']:.1f}" if load else "–",
                f"{load.get('uss_mean', 0):.1f}" if load else "–",
            ]
        )
    cols = [
        "process",
        "count",
        "idle RSS mean",
        "idle RSS max",
        "idle USS",
        "load RSS mean",
        "load RSS max",
        "load USS",
    ]
    rate = mem.load.load_rps
    title = f"Memory in MB (under load: POST /orders at {rate or 0:g} rps through the ingress)"
    return title, cols, rows


def targets_table(result: BenchResult) -> Table:
    rows = [
        [
            t.name,
            t.target,
            t.measured,
            "met" if t.met else ("missed" if t.met is False else "–"),
        ]
        for t in result.targets
    ]
    return "Targets (2-core machine)", ["figure", "target", "measured", ""], rows


def all_tables(result: BenchResult) -> list[Table]:
    found = [
        hop_table(result),
        chain_table(result),
        cost_table(result),
        startup_table(result),
        propagation_table(result),
        memory_table(result),
        targets_table(result),
    ]
    return [t for t in found if t is not None]


def markdown(tables: Sequence[Table]) -> str:
    """Tables as GitHub Markdown, numbers right-aligned."""
    out = []
    for title, cols, rows in tables:
        out.append(f"**{title}**\n")
        out.append("| " + " | ".join(cols) + " |")
        align = ["---" if k == 0 else "---:" for k in range(len(cols))]
        out.append("|" + "|".join(align) + "|")
        for row in rows:
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out)
