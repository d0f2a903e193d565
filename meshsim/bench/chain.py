"""Chain throughput: the highest rate of POST /orders that stays healthy.

Healthy means, over a measured window at a constant open-loop rate: error
rate below 0.1 % and p99 below 100 ms (from the due send time, so a backlog
shows). An order crosses the whole chain: ingress → order → user, product
(stock) and shipping, each hop through its caller's and its callee's sidecar
in the mesh.

Two wirings are searched side by side, one trial each in turn, so that
machine drift hits both alike:

- `mesh`: the bench mesh, through the ingress gateway;
- `no-sidecar`: the same apps wired directly (meshsim.bench.direct), the
  client calling the order app itself.

Each search multiplies the rate by `chain_step` while trials pass, then
bisects between the last passing and the first failing rate. A failing rate
gets a second trial when `chain_confirm` is set (a single noisy second on a
shared machine should not decide the result).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field

import psutil

from meshsim.bench.context import BenchContext
from meshsim.bench.generator import Segment, SegmentResult, Target

WIRINGS = ("mesh", "no-sidecar")
MIN_RPS = 10.0
ORDER = {"user_id": 3, "items": [{"product_id": 5, "quantity": 1}]}
# After an overloaded trial, queues in the apps and Envoys drain before the next.
COOL_DOWN_S = 0.5


def order_target(base_url: str) -> Target:
    return Target(base_url + "/orders", method="POST", body=json.dumps(ORDER))


@dataclass
class Trial:
    rate: float
    passed: bool
    achieved_rps: float
    error_rate: float
    p99_ms: float
    generator_cpu: float
    other_cpu: float | None = None  # cores used by processes not ours (shared machine)


@dataclass
class Search:
    """One wiring's search for its highest healthy rate (a small state machine)."""

    wiring: str
    start: float
    step: float
    precision: float
    max_rps: float
    confirm: bool
    lo: float = 0.0  # highest passing rate so far
    hi: float = math.inf  # lowest failing rate so far
    trials: list[Trial] = field(default_factory=list)
    _retrying: float | None = None

    def next_rate(self) -> float | None:
        if self._retrying is not None:
            return self._retrying
        if self.hi == math.inf:
            rate = self.start if self.lo == 0 else self.lo * self.step
            return min(rate, self.max_rps) if self.lo < self.max_rps else None
        if self.lo == 0:  # even the first rate failed: step down
            rate = round(self.hi / self.step)
            return rate if rate >= MIN_RPS else None
        if self.hi / self.lo <= self.precision:
            return None
        return round(math.sqrt(self.lo * self.hi))

    def record(self, trial: Trial) -> None:
        self.trials.append(trial)
        if trial.passed:
            self._retrying = None
            self.lo = max(self.lo, trial.rate)
        elif self.confirm and self._retrying is None:
            self._retrying = trial.rate
        else:
            self._retrying = None
            self.hi = min(self.hi, trial.rate)

    @property
    def best(self) -> Trial | None:
        passing = [t for t in self.trials if t.passed and t.rate == self.lo]
        return passing[-1] if passing else None


@dataclass
class ChainWiring:
    wiring: str
    highest_rps: float
    p99_ms: float | None
    error_rate: float | None
    trials: list[Trial]


@dataclass
class ChainCost:
    """CPU milliseconds per order, by process kind, at a fixed rate below capacity."""

    wiring: str
    rate: float
    cpu_ms_per_order: dict[str, float]  # app, sidecar, ingress, generator, other
    p50_ms: float


@dataclass
class ChainResult:
    max_error_rate: float
    max_p99_ms: float
    segment_s: float
    wirings: list[ChainWiring]
    ratio: float | None  # mesh / no-sidecar
    cost: list[ChainCost] = field(default_factory=list)
    # CPU per order of the no-sidecar apps over the mesh's apps and Envoys: the
    # throughput ratio to expect where CPU is the limit; steadier than the search
    # on a shared machine
    cpu_ratio: float | None = None

    def wiring(self, name: str) -> ChainWiring:
        return next(w for w in self.wirings if w.wiring == name)


def judge(res: SegmentResult, rate: float, max_error_rate: float, max_p99_ms: float) -> Trial:
    p99 = res.percentile_ms(99)
    return Trial(
        rate=rate,
        passed=res.error_rate < max_error_rate and p99 < max_p99_ms,
        achieved_rps=round(res.achieved_rps, 1),
        error_rate=round(res.error_rate, 5),
        p99_ms=round(p99, 2),
        generator_cpu=round(res.cpu_s / (res.duration_s or 1), 3),
    )


def _cpu(pids: dict[str, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds so far of each process, summed by kind."""
    out: dict[str, float] = {}
    for kind, pid in pids.values():
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[kind] = out.get(kind, 0.0) + t.user + t.system
    return out


def _busy() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


async def measure_cost(ctx: BenchContext, urls: dict[str, str]) -> list[ChainCost]:
    """Where the CPU goes per order, for each wiring, at `memory_load_rate`."""
    c = ctx.config
    mesh, direct = ctx.need_mesh(), ctx.need_direct()
    pids = {
        "mesh": {
            comp.name: (comp.kind, comp.pid)
            for comp in mesh.runtime.components()
            if comp.pid is not None
        },
        "no-sidecar": {name: ("app", pid) for name, pid in direct.pids().items()},
    }
    out = []
    for wiring in WIRINGS:
        ctx.progress(f"chain cost: {wiring} at {c.memory_load_rate:g} rps")
        seg = Segment(
            order_target(urls[wiring]),
            c.memory_load_rate,
            c.chain_segment_s,
            warmup_s=0.0,
            timeout_s=c.chain_timeout_s,
        )
        # no warm-up inside the segment: CPU is counted over all of it
        warm = Segment(seg.target, seg.rate, c.chain_warmup_s, warmup_s=0.0)
        await ctx.generator.run(warm)
        cpu0, busy0 = _cpu(pids[wiring]), _busy()
        res = await ctx.generator.run(seg)
        cpu1, busy1 = _cpu(pids[wiring]), _busy()
        n = max(res.scheduled, 1)
        per = {k: round(1000 * (cpu1[k] - cpu0.get(k, 0.0)) / n, 3) for k in cpu1}
        per["generator"] = round(1000 * res.cpu_s / n, 3)
        per["other"] = round(1000 * max(0.0, (busy1 - busy0)) / n - sum(per.values()), 3)
        out.append(ChainCost(wiring, c.memory_load_rate, per, round(res.percentile_ms(50), 3)))
    return out


async def measure_chain(ctx: BenchContext) -> ChainResult:
    c = ctx.config
    urls = {"mesh": ctx.need_mesh().ingress_url, "no-sidecar": ctx.need_direct().app("order").url}
    cost = await measure_cost(ctx, urls)
    searches = {
        w: Search(
            w, c.chain_start_rps, c.chain_step, c.chain_precision, c.chain_max_rps, c.chain_confirm
        )
        for w in WIRINGS
    }
    turn = 0
    while True:
        active = [s for s in searches.values() if s.next_rate() is not None]
        if not active:
            break
        search = active[turn % len(active)]
        turn += 1
        rate = search.next_rate()
        assert rate is not None
        ctx.progress(f"chain throughput: {search.wiring} at {rate:g} rps")
        seg = Segment(
            order_target(urls[search.wiring]),
            rate,
            c.chain_segment_s,
            warmup_s=c.chain_warmup_s,
            timeout_s=c.chain_timeout_s,
            connections=256,
        )
        res, other = await ctx.run(seg)
        trial = judge(res, rate, c.chain_max_error_rate, c.chain_max_p99_ms)
        trial.other_cpu = other
        search.record(trial)
        if not trial.passed:
            await asyncio.sleep(COOL_DOWN_S)
    result = summarize_chain(
        searches, c.chain_max_error_rate, c.chain_max_p99_ms, c.chain_segment_s
    )
    result.cost = cost
    result.cpu_ratio = cpu_ratio(cost)
    return result


SERVING = ("app", "sidecar", "ingress")


def cpu_ratio(cost: list[ChainCost]) -> float | None:
    """No-sidecar CPU per order over the mesh's, counting only the serving processes.

    >>> cpu_ratio([ChainCost("mesh", 200, {"app": 3, "sidecar": 2.5, "ingress": 0.5}, 5),
    ...            ChainCost("no-sidecar", 200, {"app": 3, "generator": 1}, 4)])
    0.5
    """
    by = {c.wiring: sum(v for k, v in c.cpu_ms_per_order.items() if k in SERVING) for c in cost}
    mesh, plain = by.get("mesh"), by.get("no-sidecar")
    return round(plain / mesh, 3) if mesh and plain is not None else None


def summarize_chain(
    searches: dict[str, Search], max_error_rate: float, max_p99_ms: float, segment_s: float
) -> ChainResult:
    wirings = []
    for name, s in searches.items():
        best = s.best
        wirings.append(
            ChainWiring(
                name,
                s.lo,
                best.p99_ms if best else None,
                best.error_rate if best else None,
                s.trials,
            )
        )
    mesh, plain = searches["mesh"].lo, searches["no-sidecar"].lo
    ratio = round(mesh / plain, 3) if plain else None
    return ChainResult(max_error_rate, max_p99_ms, segment_s, wirings, ratio)
