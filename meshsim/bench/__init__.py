"""`meshsim bench`: what the mesh costs, each figure against a baseline measured
in the same run (docs/benchmarks.md).

    >>> from meshsim.bench import BenchConfig, run_bench          # doctest: +SKIP
    >>> result = asyncio.run(run_bench(BenchConfig.quick_config()))  # doctest: +SKIP

The names are imported lazily, so that the generator's worker process
(`python -m meshsim.bench.generator`) starts without the control plane.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BenchConfig",
    "BenchResult",
    "GeneratorProcess",
    "Segment",
    "SegmentResult",
    "Target",
    "run_bench",
    "run_segment",
]

_WHERE = {
    "BenchConfig": "meshsim.bench.config",
    "BenchResult": "meshsim.bench.run",
    "run_bench": "meshsim.bench.run",
    "GeneratorProcess": "meshsim.bench.worker",
    "Segment": "meshsim.bench.generator",
    "SegmentResult": "meshsim.bench.generator",
    "Target": "meshsim.bench.generator",
    "run_segment": "meshsim.bench.generator",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'meshsim.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
