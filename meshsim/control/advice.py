"""Advice: what is valid Istio but surprises people, said where meshsim sees it.

Pure. `gotcha_warnings` looks at the policies in force (the control plane adds
them to every push's warnings); `scenario_warnings` at a scenario's resources
(shown by `meshsim validate` and when a run starts). Never errors.
"""

from __future__ import annotations

from meshsim.control.istio import TrafficPolicy, resource_warnings, short_host
from meshsim.control.plan import MeshPlan
from meshsim.control.state import PolicyState
from meshsim.control.traffic import merge_policy
from meshsim.scenario.model import Scenario


def gotcha_warnings(plan: MeshPlan, state: PolicyState) -> list[str]:
    """Valid setups that surprise people, said where meshsim can see them."""
    out: list[str] = []
    gateway_targets: dict[str, str] = {}
    for vs in state.gateway_virtual_services():
        for http in vs.spec.http:
            for d in http.route:
                gateway_targets.setdefault(short_host(d.destination.host), vs.metadata.name)
    claimed: dict[str, str] = {}
    for vs in state.virtual_services():
        if vs.spec.gateways and "mesh" not in vs.spec.gateways:
            continue
        for host in {short_host(h) for h in vs.spec.hosts}:
            if host in claimed:
                out.append(
                    f"VirtualService/{vs.metadata.name}: {host} is already routed for sidecars by "
                    f"VirtualService/{claimed[host]}; Istio does not merge them, the first "
                    "applied wins"
                )
                continue
            claimed[host] = vs.metadata.name
            if host in gateway_targets:
                out.append(
                    f"VirtualService/{vs.metadata.name} routes calls to {host} made by sidecars "
                    f"(e.g. order → {host}) only: the ingress gateway's calls to {host} follow "
                    f"VirtualService/{gateway_targets[host]}, bound to meshsim-gateway. To "
                    "split or fault those too, bind a VirtualService to meshsim-gateway"
                )
    out += _ejection_warnings(plan, state)
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
    (VirtualService/product): deprecated in Istio; ...".
    Invalid resources are left to validation."""
    from meshsim.control.istio import IstioError, parse_resource

    out: list[str] = []
    for i, phase in enumerate(scenario.phases):
        for j, raw in enumerate(phase.apply):
            try:
                resource = parse_resource(raw)
            except IstioError:
                continue
            for path, message in resource_warnings(resource):
                out.append(f"phases[{i}].apply[{j}].{path} ({resource.key}): {message}")
    return out
