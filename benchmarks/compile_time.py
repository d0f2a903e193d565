"""How long does the control plane take to compile a scenario's configuration?

For the library scenario whose compiled output is largest (every proxy's
listeners, clusters and routes, summed over its phases), each round compiles
every phase as a run pushes it (`compile_mesh` with the scenario's telemetry),
and, interleaved with it, a fixed reference workload (deep copies of a fixed
config-like tree, pure Python as the compiler is). The reference absorbs the
machine's speed and load: the ratio compile / reference is the figure to
compare across runs and checkouts; CPU seconds are the absolute one.

    python benchmarks/compile_time.py [--rounds 30] [--scenario NAME]

To compare two checkouts, run the script from each (it imports meshsim from
the checkout it lives in), alternating. Results belong in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshsim.control.observe import Observability  # noqa: E402
from meshsim.control.plan import MeshPlan, build_plan  # noqa: E402
from meshsim.control.state import PolicyState  # noqa: E402
from meshsim.control.translate import compile_mesh  # noqa: E402
from meshsim.control.xds import Paths  # noqa: E402
from meshsim.library import library  # noqa: E402
from meshsim.scenario import load_scenario  # noqa: E402
from meshsim.scenario.application import resolve_application  # noqa: E402
from meshsim.scenario.model import Scenario, resolve_mesh  # noqa: E402

PATHS = Paths("/tmp/meshsim-bench/xds")


def prepared(path: Path) -> tuple[Scenario, MeshPlan, list[PolicyState], Observability]:
    """The scenario, its plan, the policies in force in each phase, its telemetry."""
    scenario = load_scenario(path)
    plan = build_plan(resolve_mesh(scenario), 0, resolve_application(scenario))
    state = PolicyState.initial(plan.app)
    states = []
    for phase in scenario.phases:
        state.enter(phase.apply, phase.remove)
        states.append(state.copy())
    t = scenario.telemetry
    obs = Observability(("127.0.0.1", 9411) if t.tracing else None, t.sampling, t.access_logs)
    return scenario, plan, states, obs


def output_bytes(plan: MeshPlan, states: list[PolicyState], obs: Observability) -> int:
    total = 0
    for state in states:
        for cfg in compile_mesh(plan, state, PATHS, observability=obs).values():
            total += len(json.dumps([cfg.listeners, cfg.clusters, cfg.routes]))
    return total


def largest() -> str:
    sizes = {}
    for entry in library():
        _, plan, states, obs = prepared(entry.path)
        sizes[entry.name] = output_bytes(plan, states, obs)
    return max(sizes, key=lambda n: sizes[n])


REFERENCE_TREE = {
    f"proxy-{i}": {
        "clusters": [
            {
                "name": f"outbound|80|v{j}|svc{j}",
                "endpoints": [["127.0.0.1", 20000 + k] for k in range(6)],
            }
            for j in range(12)
        ],
        "routes": [
            {"match": {"prefix": f"/{j}"}, "route": {"cluster": f"c{j}"}} for j in range(12)
        ],
    }
    for i in range(8)
}


def reference() -> None:
    for _ in range(20):
        copy.deepcopy(REFERENCE_TREE)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--scenario", help="a library scenario's name (default: the largest)")
    args = ap.parse_args()
    name = args.scenario or largest()
    path = next(s.path for s in library() if s.name == name)
    scenario, plan, states, obs = prepared(path)

    def compile_all() -> None:
        for state in states:
            compile_mesh(plan, state, PATHS, observability=obs)

    compile_all()  # warm-up: imports, caches
    compile_cpu, reference_cpu, ratios = [], [], []
    for _ in range(args.rounds):
        _, c = timed(compile_all)
        _, r = timed(reference)
        compile_cpu.append(c)
        reference_cpu.append(r)
        ratios.append(c / r)
    print(
        f"{name}: {len(plan.proxies)} proxies, {len(states)} phases, "
        f"{output_bytes(plan, states, obs):,} bytes compiled; {args.rounds} rounds"
    )
    print(
        f"compile, every phase: median {statistics.median(compile_cpu) * 1000:.1f} ms CPU "
        f"(min {min(compile_cpu) * 1000:.1f})"
    )
    print(f"reference workload:   median {statistics.median(reference_cpu) * 1000:.1f} ms CPU")
    print(
        f"ratio compile / reference: median {statistics.median(ratios):.3f} "
        f"(quartiles {statistics.quantiles(ratios, n=4)[0]:.3f}-"
        f"{statistics.quantiles(ratios, n=4)[2]:.3f})"
    )


if __name__ == "__main__":
    main()
