"""Valid setups that surprise people, said where the compiler sees them. Pure.

`gotcha_warnings` looks at the policies in force; `compile_mesh` adds what it
says to every proxy's warnings, so every push reports it
(`meshsim.control.advice` says the same per phase for `meshsim validate`).
"""

from __future__ import annotations

import difflib

from meshsim.control.plan import MeshPlan
from meshsim.control.state import INGRESS_LABELS, PolicyState, gateway_name
from meshsim.control.traffic import merge_policy
from meshsim.scenario.gateway_routes import made_by_httproute, origin
from meshsim.scenario.istio import TrafficPolicy, short_host
from meshsim.shop import GATEWAY_NAME


def gotcha_warnings(plan: MeshPlan, state: PolicyState) -> list[str]:
    """Valid setups that surprise people, said where meshsim can see them."""
    out: list[str] = []
    # Hosts the gateway sends calls to as a whole service (no subset): a sidecar
    # VirtualService's split or fault does not reach those calls. A gateway route
    # that names subsets has been split on purpose, so it is not a surprise.
    gateway_targets: dict[str, tuple[str, str]] = {}
    for vs in state.gateway_virtual_services():
        bound_to = next((g for g in vs.spec.gateways if g != "mesh"), GATEWAY_NAME)
        for http in vs.spec.http:
            for d in http.route:
                if d.destination.subset is None:
                    target = (origin(vs), gateway_name(bound_to))
                    gateway_targets.setdefault(short_host(d.destination.host), target)
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
                route, gateway = gateway_targets[host]
                out.append(
                    f"{origin(vs)} routes calls to {host} made by sidecars "
                    f"(e.g. {_a_caller(plan, host)} → {host}) only: the ingress gateway's "
                    f"calls to {host} follow {route}, bound to {gateway}. To "
                    f"split or fault those too, bind a VirtualService to {gateway}"
                )
    out += _unbound_warnings(state)
    out += _unknown_host_warnings(plan, state)
    out += _ejection_warnings(plan, state)
    return out


def _a_caller(plan: MeshPlan, host: str) -> str:
    """A service that calls `host` in the declared graph, for an example
    (the shop's order calls all the others)."""
    callers = [name for name, svc in plan.app.services.items() if host in svc.calls]
    return callers[0] if callers else "order" if plan.app.builtin else "a service"


def _unbound_warnings(state: PolicyState) -> list[str]:
    """Routes bound to a Gateway that is not in force, or that selects no proxy
    of the mesh: Istio accepts them and they route nothing (an HTTPRoute is
    not Accepted: NoMatchingParent), so a compile that said nothing would hide
    why the ingress answers 404. `meshsim analyze` reports the first as MSA104."""
    in_force = {g.metadata.name: g for g in state.gateways()}
    bound = state.ingress_gateways()
    out: list[str] = []
    for vs in state.virtual_services():
        for ref in vs.spec.gateways:
            name = gateway_name(ref)
            if ref == "mesh" or name in bound:
                continue
            what = "parent Gateway" if made_by_httproute(vs) else "gateway"
            if name not in in_force:
                out.append(
                    f"{origin(vs)}: {what} {ref!r} does not exist (the mesh's is "
                    f"{GATEWAY_NAME}); its routes apply nowhere"
                )
            else:
                labels = ", ".join(f"{k}={v}" for k, v in INGRESS_LABELS.items())
                out.append(
                    f"{origin(vs)}: {what} {ref!r} selects no proxy of this mesh (the "
                    f"ingress's labels are {labels}); its routes apply nowhere"
                )
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
