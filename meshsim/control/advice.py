"""Advice: what is valid Istio but surprises people, said where meshsim sees it.

Pure. `scenario_warnings` looks at a scenario's resources
and load (shown by `meshsim validate` and when a run starts);
`compile_warnings` at what the control plane says when it compiles each phase
(shown by `meshsim validate`; a run shows them as each phase is pushed),
with `meshsim.control.gotchas` judged on the real plan. Never errors.
"""

from __future__ import annotations

from meshsim.control.gotchas import gotcha_warnings
from meshsim.control.phases import iter_phases
from meshsim.control.plan import build_plan
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths
from meshsim.scenario.application import resolve_application
from meshsim.scenario.expect import LATENCY_METRICS
from meshsim.scenario.istio import IstioError, parse_resource, resource_warnings
from meshsim.scenario.model import JOURNEYS, Scenario, resolve_mesh
from meshsim.scenario.places import placed
from meshsim.scenario.yamlpos import split_path


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Deprecated or ineffective fields in a scenario's `apply` resources,
    worded for a person: "phases[1].apply[0].spec.http[0].fault.abort.percent
    (VirtualService/product): deprecated in Istio; ...", and expectations no
    request can satisfy (`load.users: 0`). Invalid resources are left to validation."""
    out: list[str] = list(scenario.notes)  # what its manifests could not honour
    for i, phase in enumerate(scenario.phases):
        for j, raw in enumerate(phase.apply):
            try:
                resource = parse_resource(raw)
            except IstioError:
                continue
            for path, message in resource_warnings(resource):
                if scenario.places is not None:
                    where = scenario.places.where(i, j, split_path(path))
                else:
                    where = f"phases[{i}].apply[{j}].{path}"
                out.append(f"{where} ({resource.key}): {message}")
    return out + _idle_load_warnings(scenario) + _settle_warnings(scenario)


def _settle_warnings(scenario: Scenario) -> list[str]:
    """A settle leaves out the start of a phase: an action later in the phase
    causes a transition of its own, which the expectations then judge."""
    out = []
    for i, phase in enumerate(scenario.phases):
        settle = scenario.settle_of(phase)
        if not settle or not phase.expect:
            continue
        late = [a for a in phase.actions if (a.at or 0.0) >= settle]
        if late:
            what = ", ".join(f"{a.verb} {a.target} at {a.at:g}s" for a in late)
            out.append(
                f"phases[{i}].actions ({phase.name}): {what} comes after the phase's "
                f"{settle:g}s settle, so the expectations judge the transition it causes; "
                "to leave it out, start a new phase with the action and a settle"
            )
    return out


# Metrics that have no value without a request (requests, failures and rps are 0).
_NEED_REQUESTS = frozenset(("error_rate", "share", *LATENCY_METRICS))


def _idle_load_warnings(scenario: Scenario) -> list[str]:
    """`load.users: 0` sends no shopper: expectations that need requests cannot hold.
    Legacy clients still send theirs, which count for every scope but a
    shopper journey or cohort."""
    if scenario.load.users > 0:
        return []
    legacy = bool(scenario.mesh.legacy_clients)
    out = []
    for i, phase in enumerate(scenario.phases):
        idle = [
            e.text
            for e in phase.expectations
            if e.metric in _NEED_REQUESTS
            and (
                not legacy or e.scope == "cohort" or (e.scope == "journey" and e.target in JOURNEYS)
            )
        ]
        if idle:
            out.append(
                f"phases[{i}].expect ({phase.name}): load.users is 0, so no shopper sends a "
                f"request and {', '.join(repr(t) for t in idle)} cannot hold (the run reports "
                '"no requests in this phase"); set load.users above 0, or expect only '
                "requests, failures or rps"
            )
    return out


def compile_warnings(scenario: Scenario) -> list[str]:
    """What the control plane says when it compiles each phase's policies, as
    `meshsim explain` and a run do: a route to a host that is not a service of
    the mesh, to a subset no DestinationRule defines, ... Each warning once,
    naming the phases it holds in: "phase canary-10: VirtualService/product
    http[0]: subset 'v3' of product is not defined by any DestinationRule; ...".
    Resources that do not parse are left to validation."""
    mesh, app = resolve_mesh(scenario), resolve_application(scenario)
    plan = build_plan(mesh, 0, app)
    # What the control plane says depends on which versions run, not on how
    # many replicas each has, but for outlier ejection (gotcha_warnings judges
    # that on the real plan): one instance a version compiles many times
    # faster, which keeps `meshsim validate` quick at the scenario caps.
    lean = build_plan({s: dict.fromkeys(v, 1) for s, v in mesh.items()}, 0, app)
    phases_of: dict[str, list[str]] = {}
    first_of: dict[str, int] = {}
    found: list[str] | None = None
    try:
        for step in iter_phases(scenario, plan.app):
            if step.changes or found is None:  # else: what the last phase said
                state = step.state
                configs = compile_mesh(lean, state, Paths("$RUN_DIR/xds"))
                said = dict.fromkeys(w for cfg in configs.values() for w in cfg.warnings)
                for warning in gotcha_warnings(lean, state):
                    said.pop(warning, None)
                found = list(said) + gotcha_warnings(plan, state)
            for warning in dict.fromkeys(found):
                phases_of.setdefault(warning, []).append(step.phase.name)
                first_of.setdefault(warning, step.index)
    except IstioError:  # a resource that does not parse: validation says so
        return []
    out = []
    for warning, names in phases_of.items():
        text = f"phase{'s' if len(names) > 1 else ''} {', '.join(names)}: {warning}"
        # where the first phase it holds in has the resource it names from
        out.append(placed(scenario, first_of[warning], warning, text))
    return out
