"""Each phase of a scenario as `analyze` reads it: the policies in force,
the mesh they apply to, and the line each resource was written on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshsim.control.phases import iter_phases
from meshsim.control.plan import Ingress, Instance, MeshPlan
from meshsim.control.state import PolicyState
from meshsim.scenario.application import resolve_application
from meshsim.scenario.istio import VirtualService
from meshsim.scenario.istio_base import Resource
from meshsim.scenario.model import Scenario, resolve_mesh

if TYPE_CHECKING:
    from meshsim.scenario.yamlpos import Located


@dataclass
class PhaseView:
    index: int
    name: str
    state: PolicyState
    plan: MeshPlan
    scenario: Scenario
    file: str
    lines: dict[str, int] = field(default_factory=dict)  # "Kind/name" → line applied

    def line(self, key: str) -> int | None:
        """Where a resource in force was applied; None for the mesh's own
        (Gateway/meshsim-gateway, VirtualService/shop)."""
        return self.lines.get(key)

    def line_of(self, vs: VirtualService) -> int | None:
        """The line of a VirtualService, or of the first HTTPRoute it was made of."""
        from meshsim.scenario.gateway_routes import origin

        return self.line(origin(vs).split(",")[0])

    @property
    def services(self) -> dict[str, dict[str, int]]:
        return self.plan.services


def phase_views(scenario: Scenario, doc: Located | None, file: str) -> Iterator[PhaseView]:
    """Every phase in order, each with the state it runs under."""
    mesh, app = resolve_mesh(scenario), resolve_application(scenario)
    # Instances without ports: nothing is started, and picking free ports
    # (build_plan) would cost more than the whole analysis.
    instances = [
        Instance(service, version, i, 0, 0, 0, 0)
        for service, versions in mesh.items()
        for version, replicas in versions.items()
        for i in range(replicas)
    ]
    plan = MeshPlan(instances, Ingress(0, 0), mesh, app)
    lines: dict[str, int] = {}
    for step in iter_phases(scenario, plan.app):
        i, phase, state = step.index, step.phase, step.state
        for j, r in enumerate(step.applied):
            if doc is not None:
                lines[r.key] = doc.line_of(("phases", i, "apply", j))
        for key in phase.remove:
            lines.pop(key, None)
        yield PhaseView(i, phase.name, state.copy(), plan, scenario, file, dict(lines))


def resources(view: PhaseView) -> list[Resource]:
    return list(view.state.resources.values())
