"""What `meshsim bench` runs, and for how long."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

SECTIONS = ("startup", "memory", "hop", "propagation", "chain")

# The mesh the hop, propagation, memory and chain sections share: the default
# shop plus a second product version, so that product v1 (mTLS) and v2
# (plaintext) can be reached side by side.
BENCH_SHOP: dict[str, dict[str, int]] = {
    "user": {"v1": 1},
    "product": {"v1": 1, "v2": 1},
    "shipping": {"v1": 1},
    "order": {"v1": 1},
}
DEFAULT_SHOP: dict[str, dict[str, int]] = {
    "user": {"v1": 1},
    "product": {"v1": 1},
    "shipping": {"v1": 1},
    "order": {"v1": 1},
}


def many_instances(total: int) -> dict[str, dict[str, int]]:
    """A shop of `total` instances, spread over every service and both product versions.

    >>> many_instances(50)
    {'user': {'v1': 10}, 'product': {'v1': 10, 'v2': 10}, 'shipping': {'v1': 10}, 'order': {'v1': 10}}
    """
    slots = [
        ("user", "v1"),
        ("product", "v1"),
        ("product", "v2"),
        ("shipping", "v1"),
        ("order", "v1"),
    ]
    total = max(total, len(slots))
    out: dict[str, dict[str, int]] = {}
    for k, (svc, ver) in enumerate(slots):
        out.setdefault(svc, {})[ver] = total // len(slots) + (1 if k < total % len(slots) else 0)
    return out


@dataclass
class BenchConfig:
    """Durations and sizes. `BenchConfig.quick()` is the CI variant (< 60 s)."""

    run_dir: Path = field(default_factory=lambda: Path("meshsim-runs/bench"))
    quick: bool = False
    sections: tuple[str, ...] = SECTIONS
    # per-hop overhead
    rate: float = 200.0
    hop_rounds: int = 8
    hop_segment_s: float = 5.0
    warmup_s: float = 1.0
    # chain throughput
    chain_segment_s: float = 5.0
    chain_warmup_s: float = 1.0
    chain_start_rps: float = 150.0
    chain_step: float = 1.5  # multiply the rate while trials pass
    chain_precision: float = 1.05  # bisect until hi/lo is below this
    chain_confirm: bool = True  # a failing rate gets a second trial
    chain_max_rps: float = 4000.0
    chain_max_error_rate: float = 0.001
    chain_max_p99_ms: float = 100.0
    chain_timeout_s: float = 2.0
    # start-up
    startup_repeats: int = 3
    many_instances: int = 50
    # policy propagation
    propagation_trials: int = 20
    propagation_rate: float = 400.0
    propagation_gap_s: float = 0.4
    # memory under load
    memory_load_rate: float = 200.0
    memory_load_s: float = 5.0

    @classmethod
    def quick_config(cls, run_dir: Path | None = None) -> BenchConfig:
        c = cls(
            quick=True,
            hop_rounds=2,
            hop_segment_s=1.2,
            warmup_s=0.4,
            chain_segment_s=1.2,
            chain_warmup_s=0.4,
            chain_step=1.7,
            chain_precision=1.7,
            chain_confirm=False,
            startup_repeats=1,
            many_instances=12,
            propagation_trials=8,
            propagation_gap_s=0.2,
            memory_load_s=1.5,
        )
        return replace(c, run_dir=run_dir) if run_dir is not None else c
