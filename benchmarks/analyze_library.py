"""How long does `meshsim analyze` take on the scenario library, and on a
file at the caps (the most phases, each changing the policies, the most
instances)?

Timed in-process as `meshsim analyze` does it (load, every phase's findings),
interpreter start-up and the first import left out; best of three, wall and
CPU seconds (CPU is the stable figure on a shared machine).

    python benchmarks/analyze_library.py

Results belong in docs/benchmarks.md ("Analyzing the library").
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from meshsim.analyze import analyze_file
from meshsim.scenario.model import MAX_INSTANCES, MAX_PHASES

ROOT = Path(__file__).parents[1]
LIBRARY = sorted(
    [*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("scenarios/istio-tasks/*.yaml")]
    + list(ROOT.glob("examples/*/*.yaml"))
)


def at_the_caps(directory: Path) -> Path:
    """MAX_PHASES phases, each replacing a VirtualService with retries and a
    timeout, on MAX_INSTANCES instances of the shop."""
    per = (MAX_INSTANCES - 3) // 2
    phases = [
        {
            "name": f"p{i}",
            "duration": "5s",
            "apply": [
                {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "VirtualService",
                    "metadata": {"name": "product"},
                    "spec": {
                        "hosts": ["product"],
                        "http": [
                            {
                                "timeout": f"{1 + i % 5}s",
                                "retries": {"attempts": i % 7, "perTryTimeout": "500ms"},
                                "route": [{"destination": {"host": "product"}}],
                            }
                        ],
                    },
                }
            ],
        }
        for i in range(MAX_PHASES)
    ]
    doc = {
        "name": "caps",
        "mesh": {
            "services": {
                "product": {"versions": {"v1": {"replicas": per}, "v2": {"replicas": per}}}
            }
        },
        "phases": phases,
    }
    path = directory / "caps.yaml"
    path.write_text(json.dumps(doc))
    return path


def timed(paths: list[Path]) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        for p in paths:
            analyze_file(p)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main() -> None:
    analyze_file(LIBRARY[0])  # imports
    wall, cpu = timed(LIBRARY)
    print(f"library: {len(LIBRARY)} files, wall {wall:.2f} s, CPU {cpu:.2f} s")
    with tempfile.TemporaryDirectory() as d:
        wall, cpu = timed([at_the_caps(Path(d))])
    instances = 2 * ((MAX_INSTANCES - 3) // 2) + 3
    print(f"caps: {MAX_PHASES} phases, {instances} instances: wall {wall:.2f} s, CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
