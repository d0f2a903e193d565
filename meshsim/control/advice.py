"""Advice: what is valid Istio but surprises people, said where meshsim sees it.

Pure. `gotcha_warnings` looks at the policies in force (the control plane adds
them to every push's warnings); `scenario_warnings` at a scenario's resources
and load (shown by `meshsim validate` and when a run starts);
`compile_warnings` at what the control plane says when it compiles each phase
(shown by `meshsim validate`; a run shows them as each phase is pushed).
Never errors.
"""

from __future__ import annotations

import difflib

from meshsim.control.istio import TrafficPolicy, resource_warnings, short_host
from meshsim.control.plan import MeshPlan
from meshsim.control.state import PolicyState
from meshsim.control.traffic import merge_policy
from meshsim.scenario.expect import LATENCY_METRICS
from meshsim.scenario.model import JOURNEYS, Scenario


def gotcha_warnings(plan: MeshPlan, state: PolicyState) -> list[str]:
    """Valid setups that surprise people, said where meshsim can see them."""
    from meshsim.control.gateway_routes import origin

    out: list[str] = []
    # Hosts the gateway sends calls to as a whole service (no subset): a sidecar
    # VirtualService's split or fault does not reach those calls. A gateway route
    # that names subsets has been split on purpose, so it is not a surprise.
    gateway_targets: dict[str, str] = {}
    for vs in state.gateway_virtual_services():
        for http in vs.spec.http:
            for d in http.route:
                if d.destination.subset is None:
                    gateway_targets.setdefault(short_host(d.destination.host), origin(vs))
    claimed: dict[str, str] = {}
    for vs in state.virtual_services():
        if vs.spec.gateways and "mesh" not in vs.spec.gateways:
            continue
        for host in {short_host(h) for h in vs.spec.hosts}:
            if host in claimed:
                out.append(
                    f"{origin(vs)}: {host} is already routed for sidecars by "
                    f"{claimed[host]}; Istio does not merge them, the first "
                    "applied wins"
                )
                continue
            claimed[host] = origin(vs)
            if host in gateway_targets:
                out.append(
                    f"{origin(vs)} routes calls to {host} made by sidecars "
                    f"(e.g. order → {host}) only: the ingress gateway's calls to {host} follow "
                    f"{gateway_targets[host]}, bound to meshsim-gateway. To "
                    "split or fault those too, bind a VirtualService to meshsim-gateway"
                )
    out += _unknown_host_warnings(plan, state)
    out += _ejection_warnings(plan, state)
    return out


def _unknown_host_warnings(plan: MeshPlan, state: PolicyState) -> list[str]:
    """A VirtualService for sidecars, or a DestinationRule, whose host is no
    service of this mesh (the scenario's services, own ones included): valid
    Istio, and it changes nothing, which is rarely what its author meant."""
    services = list(plan.services)
    out: list[str] = []

    def unknown(key: str, host: str, effect: str) -> None:
        close = difflib.get_close_matches(short_host(host), services, n=1)
        out.append(
            f"{key}: host {host!r} is not a service of this mesh"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; {effect}. Services: {', '.join(services)}"
        )

    for vs in state.virtual_services():
        if vs.spec.gateways and "mesh" not in vs.spec.gateways:
            continue  # bound to the ingress: its hosts are what clients ask for
        for host in vs.spec.hosts:
            if "*" not in host and short_host(host) not in plan.services:
                unknown(vs.key, host, "no call goes to it, so its routes never apply")
    for dr in state.destination_rules():
        if "*" not in dr.spec.host and short_host(dr.spec.host) not in plan.services:
            unknown(dr.key, dr.spec.host, "its subsets and traffic policy apply to no call")
    return out


def _ejection_warnings(plan: MeshPlan, state: PolicyState) -> list[str]:
    """Envoy 1.40 ejects at most max_ejection_percent of a pool, rounded down
    (Istio does not set `always_eject_one_host`): with the default 10 %, a pool
    of fewer than 10 instances never ejects anything."""
    out: list[str] = []
    for dr in state.destination_rules():
        service = short_host(dr.spec.host)
        members = plan.of_service(service)
        pools: list[tuple[str, TrafficPolicy | None, int]] = [
            (service, dr.spec.trafficPolicy, len(members))
        ]
        for subset in dr.spec.subsets:
            chosen = [
                i for i in members if all(i.labels.get(k) == v for k, v in subset.labels.items())
            ]
            policy = merge_policy(dr.spec.trafficPolicy, subset.trafficPolicy)
            pools.append((f"{service} subset {subset.name}", policy, len(chosen)))
        for name, policy, size in pools:
            od = policy.outlierDetection if policy else None
            if od is None or size == 0 or od.consecutive5xxErrors == 0:
                continue
            percent = od.maxEjectionPercent or 10
            if size * percent // 100 < 1:
                out.append(
                    f"DestinationRule/{dr.metadata.name}: maxEjectionPercent {percent}% of "
                    f"{size} instance(s) of {name} is less than one instance, so outlier "
                    "detection ejects none; raise maxEjectionPercent (e.g. 50 or 100)"
                )
    return out


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Deprecated or ineffective fields in a scenario's `apply` resources,
    worded for a person: "phases[1].apply[0].spec.http[0].fault.abort.percent
    (VirtualService/product): deprecated in Istio; ...", and expectations no
    request can satisfy (`load.users: 0`). Invalid resources are left to validation."""
    from meshsim.control.istio import IstioError, parse_resource

    out: list[str] = list(scenario.notes)  # what its manifests could not honour
    for i, phase in enumerate(scenario.phases):
        for j, raw in enumerate(phase.apply):
            try:
                resource = parse_resource(raw)
            except IstioError:
                continue
            for path, message in resource_warnings(resource):
                out.append(f"phases[{i}].apply[{j}].{path} ({resource.key}): {message}")
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
    from meshsim.control.istio import IstioError
    from meshsim.control.plan import build_plan
    from meshsim.control.translate import Paths, compile_mesh
    from meshsim.scenario.application import resolve_application
    from meshsim.scenario.model import resolve_mesh

    mesh, app = resolve_mesh(scenario), resolve_application(scenario)
    plan = build_plan(mesh, 0, app)
    # What the control plane says depends on which versions run, not on how
    # many replicas each has, but for outlier ejection (gotcha_warnings judges
    # that on the real plan): one instance a version compiles many times
    # faster, which keeps `meshsim validate` quick at the scenario caps.
    lean = build_plan({s: dict.fromkeys(v, 1) for s, v in mesh.items()}, 0, app)
    state = PolicyState.initial(plan.app)
    phases_of: dict[str, list[str]] = {}
    found: list[str] | None = None
    for phase in scenario.phases:
        if phase.apply or phase.remove or found is None:  # else: what the last phase said
            try:
                state.enter(phase.apply, phase.remove)
            except IstioError:
                return []
            configs = compile_mesh(lean, state, Paths("$RUN_DIR/xds"))
            said = dict.fromkeys(w for cfg in configs.values() for w in cfg.warnings)
            for warning in gotcha_warnings(lean, state):
                said.pop(warning, None)
            found = list(said) + gotcha_warnings(plan, state)
        for warning in dict.fromkeys(found):
            phases_of.setdefault(warning, []).append(phase.name)
    return [
        f"phase{'s' if len(names) > 1 else ''} {', '.join(names)}: {warning}"
        for warning, names in phases_of.items()
    ]
