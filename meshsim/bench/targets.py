"""The issue's targets for this machine, checked against a bench result (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshsim.bench.run import BenchResult


@dataclass
class TargetCheck:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def _check(
    name: str, target: str, value: float | None, limit: float, unit: str, higher: bool = False
) -> TargetCheck:
    if value is None:
        return TargetCheck(name, target, "not measured", None)
    met = value >= limit if higher else value <= limit
    return TargetCheck(name, target, f"{value:,.3g} {unit}".strip(), met)


def check_targets(result: BenchResult) -> list[TargetCheck]:
    out: list[TargetCheck] = []
    hop = result.hop
    if hop is not None:
        mtls = next((v for v in hop.variants if v.name == "mtls"), None)
        rate = f"{hop.rate:g} rps"
        out.append(
            _check(
                "mTLS hop, added p50",
                f"≤ 0.5 ms at {rate}",
                mtls.added_ms["p50"] if mtls else None,
                0.5,
                "ms",
            )
        )
        out.append(
            _check(
                "mTLS hop, added p99",
                f"≤ 2 ms at {rate}",
                mtls.added_ms["p99"] if mtls else None,
                2.0,
                "ms",
            )
        )
    chain = result.chain
    if chain is not None:
        mesh = chain.wiring("mesh").highest_rps
        out.append(_check("chain throughput, mesh", "≥ 400 rps", mesh, 400, "rps", higher=True))
        ratio = chain.ratio
        measured = f"{ratio:.0%}" if ratio is not None else "not measured"
        if chain.cpu_ratio is not None:
            measured += f" (CPU per order: {chain.cpu_ratio:.0%})"
        out.append(
            TargetCheck(
                "chain throughput, mesh / no-sidecar",
                "≥ 75 %",
                measured,
                ratio >= 0.75 if ratio is not None else None,
            )
        )
    startup = result.startup
    if startup is not None:
        default = startup.shapes[0]
        out.append(_check("start-up, default shop", "≤ 3 s", default.summary_s["median"], 3.0, "s"))
        many = startup.shapes[1]
        check = _check(
            f"start-up, {many.instances} instances",
            "≤ 20 s for 50",
            many.summary_s["median"],
            20.0,
            "s",
        )
        out.append(check)
    prop = result.propagation
    if prop is not None:
        p99 = prop.first_ms.get("p99") if prop.first_ms else None
        check = _check("policy propagation p99", "≤ 500 ms, 0 failed", p99, 500, "ms")
        check.measured += f", {prop.failed} failed"
        if prop.unobserved:
            check.measured += f", {prop.unobserved} changes not seen"
            check.met = False
        if prop.untimed:  # the load stream paused there: said, not counted
            check.measured += f", {prop.untimed} not timed (load paused)"
        if prop.failed:
            check.met = False
        out.append(check)
    memory = result.memory
    if memory is not None:
        side = memory.idle.of_kind("sidecar")
        value = max(p.rss_mb for p in side) if side else None
        check = _check("sidecar RSS, idle (max)", "≤ 60 MB", value, 60, "MB")
        uss = [p.uss_mb for p in side if p.uss_mb is not None]
        if uss:
            check.measured += f" (USS {max(uss):.0f} MB)"
        out.append(check)
    return out
