"""How long does `meshsim validate` take on the worst files within its caps?

Each case is built at a cap of docs/scenarios.md ("Limits"): a file just under
the size cap, the most values (aliases counted), the most phases each changing
the policies on the most instances, the most resources in one phase, an alias
bomb. Timed in-process as `validate` does it (load, scenario and compile
warnings), so interpreter start-up (about 0.5 s, the same for every file) is
left out; CPU seconds are the stable figure on a shared machine.

    python benchmarks/validate_caps.py

Results belong in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from meshsim.control.advice import compile_warnings, scenario_warnings
from meshsim.errors import MeshsimError
from meshsim.scenario.loader import MAX_FILE_BYTES, load_scenario_text
from meshsim.scenario.model import MAX_INSTANCES, MAX_PER_PHASE, MAX_PHASES
from meshsim.scenario.yamlpos import MAX_NODES

HEAD = "name: caps\n"
ONE_PHASE = "phases: [{name: a, duration: 5s}]\n"


def vs(name: str, host: str, weight: int) -> str:
    return json.dumps(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": name},
            "spec": {
                "hosts": [host],
                "http": [
                    {
                        "route": [
                            {"destination": {"host": host, "subset": "v1"}, "weight": weight},
                            {"destination": {"host": host, "subset": "v2"}, "weight": 100 - weight},
                        ]
                    }
                ],
            },
        }
    )


def dr(host: str) -> str:
    subsets = [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]
    return json.dumps(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": host},
            "spec": {"host": host, "subsets": subsets},
        }
    )


HALF = min((MAX_INSTANCES - 3) // 2, 50)
INSTANCES = 3 + 2 * HALF


def biggest_mesh() -> str:
    """As many instances as allowed: product v1 and v2 fill what the other three leave."""
    half = HALF
    return (
        f"mesh: {{services: {{product: {{versions: {{v1: {{replicas: {half}}}, "
        f"v2: {{replicas: {half}}}}}}}}}}}\n"
    )


def many_values() -> str:
    items = ", ".join(str(i) for i in range(MAX_NODES - 10))
    return HEAD + ONE_PHASE + f"x: [{items}]\n"


def size_cap() -> str:
    line = "# " + "x" * 98 + "\n"
    return HEAD + ONE_PHASE + line * ((MAX_FILE_BYTES - 100) // len(line))


def phases_that_change_policies() -> str:
    out = [HEAD, biggest_mesh(), "phases:\n"]
    out.append(f"  - {{name: p0, duration: 1s, apply: [{dr('product')}]}}\n")
    for i in range(1, MAX_PHASES):
        out.append(
            f"  - {{name: p{i}, duration: 1s, expect: ['p99 < 300ms', 'error_rate < 1%'], "
            f"apply: [{vs('product', 'product', i % 101)}]}}\n"
        )
    return "".join(out)


def resources_in_one_phase() -> str:
    hosts = ["product", "user", "shipping", "order"]
    items = [dr(h) for h in hosts]
    items += [vs(f"vs-{i}", hosts[i % 4], i % 101) for i in range(MAX_PER_PHASE - len(items))]
    return (
        HEAD
        + biggest_mesh()
        + f"phases: [{{name: a, duration: 5s, apply: [{', '.join(items)}]}}]\n"
    )


def actions_everywhere() -> str:
    out = [HEAD, biggest_mesh(), "phases:\n"]
    for i in range(MAX_PHASES):
        kills = ", ".join(f"{{kill: product-v2-{j % HALF}}}" for j in range(MAX_PER_PHASE))
        out.append(f"  - {{name: p{i}, duration: 1s, actions: [{kills}]}}\n")
    return "".join(out)


def alias_bomb() -> str:
    lines = [HEAD.rstrip(), ONE_PHASE.rstrip(), "a0: &a0 [" + ", ".join(["x"] * 50) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 50) + "]" for i in range(1, 8)]
    return "\n".join(lines) + "\n"


CASES: dict[str, Callable[[], str]] = {
    f"{MAX_FILE_BYTES // 1024} KiB of comments (size cap)": size_cap,
    f"{MAX_NODES:,} values in one list (value cap)": many_values,
    f"{MAX_PHASES} phases changing policies, {INSTANCES} instances": (phases_that_change_policies),
    f"{MAX_PER_PHASE} resources in one phase, {INSTANCES} instances": resources_in_one_phase,
    f"{MAX_PHASES} phases of {MAX_PER_PHASE} actions, {INSTANCES} instances": actions_everywhere,
    "alias bomb (50^8 values)": alias_bomb,
}


def validate(text: str) -> str:
    try:
        scenario = load_scenario_text(text, file="caps.yaml")
        warnings = scenario_warnings(scenario) + compile_warnings(scenario)
    except MeshsimError as exc:
        return "exit 2: " + str(exc).split("\n")[0].split(": ", 1)[-1][:60]
    return f"exit 0 ({len(warnings)} warnings)"


def main(repeat: int = 3) -> None:
    print("| file | bytes | outcome | wall s (best of 3) | CPU s |")
    print("|---|---:|---|---:|---:|")
    for name, build in CASES.items():
        text = build()
        best_wall, best_cpu, outcome = float("inf"), float("inf"), ""
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            outcome = validate(text)
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        print(f"| {name} | {len(text):,} | {outcome} | {best_wall:.2f} | {best_cpu:.2f} |")


if __name__ == "__main__":
    main()
