"""What each phase's policies mean for the graph's edges, from the scenario.

Worked out from the scenario's phases as the control plane compiles them
(`control.phases.iter_phases`, then `control.security`'s mTLS inheritance and
AuthorizationPolicy scope), so a replay knows them as well as the live view:

- `faults`: service → the abort status of the fault its mesh VirtualService
  injects (None: a delay only). Istio puts it in the callers' sidecars, where
  the aborted calls reach no cluster: `buckets.EdgeSeconds` adds them back.
- `mtls`: service → whether calls to it travel over mTLS: a DestinationRule's
  `tls.mode` when it sets one (ISTIO_MUTUAL yes, DISABLE no), else Istio's
  auto mTLS: yes unless every instance of the service runs with mTLS DISABLE.
- `authz`: service → the AuthorizationPolicies that apply to its instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshsim.control.phases import iter_phases
from meshsim.control.plan import MeshPlan
from meshsim.control.security import applies_to, mtls_mode, workloads
from meshsim.control.state import PolicyState
from meshsim.errors import MeshsimError
from meshsim.scenario.model import Scenario


@dataclass
class PhasePolicies:
    faults: dict[str, int | None] = field(default_factory=dict)
    mtls: dict[str, bool] = field(default_factory=dict)
    authz: dict[str, int] = field(default_factory=dict)


def phase_policies(scenario: Scenario, plan: MeshPlan) -> dict[int, PhasePolicies]:
    """Per phase index, what its policies in force mean for the edges. A
    scenario copy that no longer compiles (the run validated it) gives none."""
    out: dict[int, PhasePolicies] = {}
    try:
        for step in iter_phases(scenario, plan.app):
            out[step.index] = _of(step.state, plan)
    except (MeshsimError, ValueError, KeyError):
        pass
    return out


def _of(state: PolicyState, plan: MeshPlan) -> PhasePolicies:
    found = PhasePolicies()
    by_proxy = workloads(plan)
    policies = state.authorization_policies()
    for service in sorted({i.service for i in plan.instances}):
        vs = state.mesh_virtual_service(service)
        for http in vs.spec.http if vs is not None else []:
            fault = http.fault
            if (
                fault is not None
                and (fault.abort or fault.delay)
                and found.faults.get(service) is None
            ):
                found.faults[service] = fault.abort.httpStatus if fault.abort else None
        mine = [by_proxy[i.name] for i in plan.instances if i.service == service]
        dr = state.destination_rule(service)
        policy = dr.spec.trafficPolicy if dr is not None else None
        tls = policy.tls.mode if policy is not None and policy.tls is not None else None
        if tls in ("ISTIO_MUTUAL", "DISABLE"):
            found.mtls[service] = tls == "ISTIO_MUTUAL"
        else:
            found.mtls[service] = any(mtls_mode(state, w) != "DISABLE" for w in mine)
        found.authz[service] = sum(any(applies_to(p, w) for w in mine) for p in policies)
    return found
