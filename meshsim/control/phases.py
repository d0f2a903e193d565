"""The scenario's phases in order, each with the policies in force during it.

One walk for everyone who needs "what is in force in phase N": the runner
(which pushes each phase's change to the proxies), `meshsim explain`, the
compile warnings of `meshsim validate` (advice.py), `meshsim analyze`,
`status`'s bypass note and `meshsim export compose`. Each phase's `apply`
replaces or joins what is in force, then its `remove` withdraws
(`PolicyState.enter`, `kubectl apply` semantics).

>>> for step in iter_phases(scenario, plan.app):          # doctest: +SKIP
...     print(step.index, step.phase.name, list(step.state.resources))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshsim.control.state import PolicyState
from meshsim.scenario.istio_base import Resource

if TYPE_CHECKING:
    from meshsim.application import Application
    from meshsim.scenario.model import Phase, Scenario


@dataclass(frozen=True)
class PhaseStep:
    """One phase as it begins. `state` is the policies in force during it:
    one object for the whole walk, moved on by the next step (copy it to keep
    it)."""

    index: int
    phase: Phase
    state: PolicyState
    applied: list[Resource]  # this phase's `apply`, parsed
    not_in_force: list[str]  # its `remove` keys that named nothing in force

    @property
    def changes(self) -> bool:
        """The phase applies or removes something (else it keeps what was in force)."""
        return bool(self.phase.apply or self.phase.remove)

    @property
    def changed(self) -> list[str]:
        """Its change as `remove` names resources: "VirtualService/x", "-Kind/name"."""
        return [r.key for r in self.applied] + [f"-{k}" for k in self.phase.remove]


def iter_phases(
    scenario: Scenario, app: Application, state: PolicyState | None = None
) -> Iterator[PhaseStep]:
    """Each phase of `scenario` in order, entered into `state` (default: what
    a mesh of `app` starts with). A phase's resources are parsed as its step
    is taken: an `IstioError` comes from the step of the phase that has it."""
    state = PolicyState.initial(app) if state is None else state
    for index, phase in enumerate(scenario.phases):
        applied, not_in_force = state.enter(phase.apply, phase.remove)
        yield PhaseStep(index, phase, state, applied, not_in_force)
