"""Every library scenario compiled, phase by phase, as one deterministic text.

The golden test (test_golden.py) compares this text with the files under
`tests/control/golden/`, so any change to what the control plane pushes to
an Envoy shows up as a failing test that names the scenario, phase, proxy and
resource. A change to the golden files must be deliberate and explained in
the commit that makes it. Regenerate them with

    MESHSIM_UPDATE_GOLDEN=1 pytest tests/control/test_golden.py

For each phase the text holds every proxy's listeners, clusters, route
configurations and warnings twice: as a run pushes them (the scenario's
`telemetry`, the span collector at a fixed address) and without
observability (`--no-telemetry`, `meshsim explain`, compose export). Keys
keep the order the compiler gave them: the files a run writes are dumped in
that order, so "the same text" means "the same bytes on Envoy's side".
The plan's ports are laid out from a fixed base instead of the free ports a
run picks, so the text does not depend on the machine.
"""

from __future__ import annotations

import json
import lzma
from pathlib import Path
from typing import Any
from unittest import mock

import meshsim.control.plan as plan_module
from meshsim.control.observe import Observability
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths, ProxyConfig
from meshsim.library import library, shipped_dir
from meshsim.scenario import load_scenario
from meshsim.scenario.application import resolve_application
from meshsim.scenario.model import resolve_mesh

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_ENV = "MESHSIM_UPDATE_GOLDEN"
PATHS = Paths("$RUN_DIR/xds")
COLLECTOR = ("127.0.0.1", 9411)
PORT_BASE = 20000


def scenarios() -> dict[str, Path]:
    """name → file: the library (istio-tasks included), then each example's scenario."""
    found = {s.name: s.path for s in library()}
    examples = shipped_dir("scenarios").parent / "examples"
    for path in sorted(examples.glob("*/scenario.yaml")):
        found[f"examples/{path.parent.name}"] = path
    return found


def golden_file(name: str) -> Path:
    # xz: the text repeats itself across proxies and phases (tens of MB in all),
    # and lzma's large window keeps every scenario's file to a few tens of kB.
    return GOLDEN_DIR / f"{name}.json.xz"


def _fixed_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    return list(range(PORT_BASE, PORT_BASE + count))


def _proxy(cfg: ProxyConfig) -> dict[str, Any]:
    return {
        "listeners": cfg.listeners,
        "clusters": cfg.clusters,
        "routes": cfg.routes,
        "warnings": cfg.warnings,
    }


def compiled(path: Path) -> dict[str, Any]:
    """Every phase of the scenario at `path`, compiled as a run and as explain do."""
    scenario = load_scenario(path)
    with mock.patch.object(plan_module, "free_ports", _fixed_ports):
        plan = plan_module.build_plan(resolve_mesh(scenario), 0, resolve_application(scenario))
    t = scenario.telemetry
    pushed = Observability(COLLECTOR if t.tracing else None, t.sampling, t.access_logs)
    state = PolicyState.initial(plan.app)
    phases = []
    for phase in scenario.phases:
        state.enter(phase.apply, phase.remove)
        run = compile_mesh(plan, state, PATHS, observability=pushed)
        bare = compile_mesh(plan, state, PATHS)
        phases.append(
            {
                "phase": phase.name,
                "in_force": list(state.resources),
                "pushed": {name: _proxy(cfg) for name, cfg in run.items()},
                "no_telemetry": {name: _proxy(cfg) for name, cfg in bare.items()},
            }
        )
    return {"scenario": scenario.name, "phases": phases}


def text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def read_golden(name: str) -> str | None:
    path = golden_file(name)
    return lzma.decompress(path.read_bytes()).decode() if path.is_file() else None


def write_golden(name: str, body: str) -> None:
    path = golden_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lzma.compress(body.encode(), preset=9 | lzma.PRESET_EXTREME))
