"""The route configurations: VirtualServices → Envoy routes, per listener.

One builder per RouteConfiguration a proxy has, as istiod's
`pilot/pkg/networking/core` builds them: the sidecars' outbound routes (one
virtual host per service), the gateway's (the VirtualServices bound to it),
each sidecar's inbound routes (faults at the destination, then the app). The
fields of a route come from the converters in `meshsim.control.traffic`; the
RBAC rules a workload's AuthorizationPolicies make (`meshsim.control.rbac`)
are an input, set on its virtual hosts as the route is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from meshsim.control import envoy as e
from meshsim.control import traffic
from meshsim.control.plan import Instance, MeshPlan
from meshsim.control.state import PolicyState
from meshsim.control.xds import ROUTE_INBOUND, ROUTE_INGRESS, ROUTE_OUTBOUND
from meshsim.scenario.gateway_api import FROM_ANNOTATION
from meshsim.scenario.gateway_routes import (
    gateway_match,
    made_by_httproute,
    origin,
    version_service,
)
from meshsim.scenario.istio import Destination, VirtualService, short_host
from meshsim.shop import NAMESPACE, SERVICE_PORT, fqdn


@dataclass
class RouteContext:
    """What building the routes of one compile shares: the mesh, the policies
    in force, the warnings said so far and the clusters named that the mesh
    does not have (valid Istio: Envoy answers 503; `Snapshot.unresolved`)."""

    plan: MeshPlan
    state: PolicyState
    warnings: list[str]
    unresolved: set[str] = field(default_factory=set)


def _with_rbac(vhost: dict[str, Any], rbac: dict[str, Any]) -> dict[str, Any]:
    if rbac:
        vhost["typed_per_filter_config"] = dict(rbac)
    return vhost


def _domains(service: str, extra_port: int | None = None, namespace: str = NAMESPACE) -> list[str]:
    names = [service, f"{service}.{NAMESPACE}", f"{service}.{NAMESPACE}.svc", fqdn(service)]
    if namespace != NAMESPACE:  # a team's Service in a namespace of its own
        names += [f"{service}.{namespace}", f"{service}.{namespace}.svc"]
        names.append(f"{service}.{namespace}.svc.cluster.local")
    # A team's Service may name another port (its manifest's `port`): callers use it too.
    ports = [SERVICE_PORT] + ([extra_port] if extra_port not in (None, SERVICE_PORT) else [])
    return names + [f"{n}:{p}" for p in ports for n in names]


def _service_port(plan: MeshPlan, service: str) -> tuple[int | None, str]:
    """A team's service's own Service port and namespace (its manifests)."""
    own = plan.app.services.get(service)
    return (own.service_port, own.namespace) if own is not None else (None, NAMESPACE)


def outbound_routes(ctx: RouteContext) -> dict[str, Any]:
    """The sidecars' outbound RouteConfiguration: one virtual host per service."""
    plan, state = ctx.plan, ctx.state
    vhosts = []
    for service in plan.services:
        vs = state.mesh_virtual_service(service)
        own_port = _service_port(plan, service)[0]
        ports = (SERVICE_PORT,) if own_port is None else (SERVICE_PORT, own_port)
        routes = _vs_routes(vs, ctx, ports) if vs else [_default_route(service)]
        vhosts.append(
            {
                "name": f"{fqdn(service)}:{SERVICE_PORT}",
                "domains": _domains(service, *_service_port(plan, service)),
                "routes": routes,
            }
        )
    vhosts.append(_blackhole_vhost())
    return {
        "@type": e.T_ROUTE,
        "name": ROUTE_OUTBOUND,
        "virtual_hosts": vhosts,
        "validate_clusters": False,
    }


def ingress_routes(ctx: RouteContext, rbac: dict[str, Any]) -> dict[str, Any]:
    """The gateway's RouteConfiguration: the VirtualServices bound to it, each
    virtual host carrying the gateway's RBAC rules (`rbac`, RBACPerRoute)."""
    vhosts = []
    seen: dict[str, str] = {}  # host -> what bound it first
    for vs in ctx.state.gateway_virtual_services():
        served = ctx.state.ingress_hosts(vs)
        if not served:
            ctx.warnings.append(
                f"{origin(vs)}: no host of {vs.spec.hosts} is among the hosts of the "
                "servers of the Gateway it is bound to; Istio drops its routes at the ingress"
            )
            continue
        domains = [d for d in served if d not in seen]
        if not domains:
            first = sorted({seen[d] for d in served})
            ctx.warnings.append(
                f"{origin(vs)}: hosts {served} already bound to the gateway by "
                f"{', '.join(first)}, applied first; its routes are not used (remove "
                f"{first[0]} in the same phase to route these hosts with {origin(vs)})"
            )
            continue
        seen.update(dict.fromkeys(domains, origin(vs)))
        vhosts.append(
            {
                # named after the HTTPRoute(s) it came from, if any (`explain` says so)
                "name": f"gateway:{vs.metadata.annotations.get(FROM_ANNOTATION, vs.metadata.name)}",
                "domains": domains,
                "routes": _vs_routes(vs, ctx, ctx.state.ingress_ports(vs)),
            }
        )
    if "*" not in seen:
        vhosts.append(_blackhole_vhost(404, "no VirtualService bound to meshsim-gateway matches"))
    return {
        "@type": e.T_ROUTE,
        "name": ROUTE_INGRESS,
        "virtual_hosts": [_with_rbac(v, rbac) for v in vhosts],
        "validate_clusters": False,
    }


# Every answer an inbound sidecar gives names its instance and Envoy's response
# flags ("-": the app answered; "UF": its connection was refused, ...), so the
# load knows which version served a request whatever the app's own headers.
SERVED_BY_HEADER = "x-meshsim-served-by"


def inbound_routes(inst: Instance, state: PolicyState, rbac: dict[str, Any]) -> dict[str, Any]:
    """A sidecar's inbound RouteConfiguration: faults at the destination, then
    its app; the workload's RBAC rules (`rbac`, RBACPerRoute) on its virtual host."""
    cluster = e.inbound_cluster_name(inst.service)
    return {
        "@type": e.T_ROUTE,
        "name": ROUTE_INBOUND,
        "validate_clusters": False,
        "response_headers_to_add": [
            {
                "header": {"key": SERVED_BY_HEADER, "value": f"{inst.name};%RESPONSE_FLAGS%"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
        "virtual_hosts": [
            _with_rbac(
                {
                    "name": f"inbound|http|{SERVICE_PORT}",
                    "domains": ["*"],
                    "routes": traffic.destination_fault_routes(inst, state, cluster)
                    + [
                        {
                            "name": "default",
                            "match": {"prefix": "/"},
                            "route": {"cluster": cluster, "timeout": "0s"},
                        }
                    ],
                },
                rbac,
            )
        ],
    }


def _blackhole_vhost(status: int = 502, why: str = "unknown service") -> dict[str, Any]:
    return {
        "name": "block_all",
        "domains": ["*"],
        "routes": [
            {
                "name": "block_all",
                "match": {"prefix": "/"},
                "direct_response": {
                    "status": status,
                    "body": {"inline_string": f"meshsim: {why}\n"},
                },
            }
        ],
    }


def _default_route(service: str) -> dict[str, Any]:
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": {
            "cluster": e.outbound_cluster_name(service),
            "timeout": "0s",
            "retry_policy": traffic.retry_policy(None),
        },
    }


_retry_policy = traffic.retry_policy


def _cluster_for(dest: Destination, ctx: RouteContext, where: str) -> str:
    """The cluster a destination names; one the mesh lacks (Envoy answers 503,
    as Istio) is said in a warning and noted in `ctx.unresolved`."""
    before = len(ctx.warnings)
    name = _cluster_name(dest, ctx, where)
    if len(ctx.warnings) > before:
        ctx.unresolved.add(name)
    return name


def _cluster_name(dest: Destination, ctx: RouteContext, where: str) -> str:
    plan, state, warnings = ctx.plan, ctx.state, ctx.warnings
    service = short_host(dest.host)
    version = version_service(service, plan.services) if service not in plan.services else None
    ports = (SERVICE_PORT, _service_port(plan, version[0] if version else service)[0])
    if version is not None and (dest.port is None or dest.port.number in ports):
        return e.outbound_cluster_name(*version)  # `product-v2`: product's instances of v2
    if service not in plan.services:
        close = difflib.get_close_matches(service, list(plan.services), n=1)
        warnings.append(
            f"{where}: destination host {dest.host!r} is not a service in this mesh"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + "; Envoy has no cluster for it and answers 503 for these requests"
        )
    if dest.subset:
        dr = state.destination_rule(service)
        if dr is None or all(s.name != dest.subset for s in dr.spec.subsets):
            warnings.append(
                f"{where}: subset {dest.subset!r} of {service} is not defined by any "
                "DestinationRule; Istio answers 503 (no cluster) for these requests"
            )
    if dest.port is not None and dest.port.number not in ports:
        warnings.append(
            f"{where}: port {dest.port.number}: {service} listens only on {SERVICE_PORT}; "
            "Istio finds no cluster and answers 503 for these requests"
        )
        return f"outbound|{dest.port.number}|{dest.subset or ''}|{fqdn(service)}"
    return e.outbound_cluster_name(service, dest.subset or "")


def _vs_routes(
    vs: VirtualService, ctx: RouteContext, ports: Collection[int]
) -> list[dict[str, Any]]:
    """One Envoy route per match of each http route, as istiod's translateRoute;
    a match on a `port` applies where `ports` are served."""
    routes: list[dict[str, Any]] = []
    # Istio compiles an HTTPRoute's PathPrefix as a path-element prefix
    gw = gateway_match if made_by_httproute(vs) else (lambda m: m)
    for i, http in enumerate(vs.spec.http):
        where = traffic.where(vs, i, http)
        if not http.route:  # a redirect or a direct response: no upstream at all
            for j, m in enumerate(http.match or [None]):
                match = gw(traffic.route_match(m, ports))
                if match is not None:
                    name = http.name or f"{vs.metadata.name}.{i}"
                    routes.append(
                        {
                            "name": name if len(http.match) <= 1 else f"{name}.{j}",
                            "match": match,
                            **traffic.terminal_action(http),
                            **traffic.header_ops(http.headers)[0],
                        }
                    )
            continue
        timeout = traffic.duration(http.timeout) if http.timeout else "0s"
        action: dict[str, Any] = {"timeout": timeout}
        extra, authority = traffic.header_ops(http.headers)
        if len(http.route) == 1:
            only = http.route[0]
            action["cluster"] = _cluster_for(only.destination, ctx, where)
            ops, dest_authority = traffic.header_ops(only.headers)
            for k, v in ops.items():
                extra.setdefault(k, []).extend(v)
            authority = authority or dest_authority
        else:
            # Istio drops 0-weight destinations when there are several
            weighted = []
            for d in (d for d in http.route if d.weight > 0):
                ops, dest_authority = traffic.header_ops(d.headers)
                entry = {
                    "name": _cluster_for(d.destination, ctx, where),
                    "weight": d.weight,
                    **ops,
                }
                if dest_authority:
                    entry["host_rewrite_literal"] = dest_authority
                weighted.append(entry)
            action["weighted_clusters"] = {"clusters": weighted}
        action.update(traffic.rewrite_action(http.rewrite))
        if http.rewrite is not None and http.rewrite.authority:
            authority = http.rewrite.authority  # Istio: rewrite wins over headers' host
        if authority:
            action["host_rewrite_literal"] = authority
        retry = traffic.retry_policy(http.retries)
        if retry:
            action["retry_policy"] = retry
        mirrors = traffic.mirror_targets(http)
        if mirrors:
            action["request_mirror_policies"] = [
                {
                    "cluster": _cluster_for(dest, ctx, where + " mirror"),
                    "runtime_fraction": fraction,
                    "trace_sampled": False,
                }
                for dest, fraction in mirrors
            ]
        fault = traffic.caller_fault(vs, http)
        for j, m in enumerate(http.match or [None]):
            match = gw(traffic.route_match(m, ports))
            if match is None:
                continue
            name = http.name or f"{vs.metadata.name}.{i}"
            if m is not None and m.name:
                name = f"{name}.{m.name}"
            route: dict[str, Any] = {
                "name": name if len(http.match) <= 1 else f"{name}.{j}",
                "match": match,
                "route": action,
                **extra,
            }
            if fault:
                route["typed_per_filter_config"] = {"envoy.filters.http.fault": fault}
            routes.append(route)
    return routes
