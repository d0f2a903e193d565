"""Istio resources → Envoy configuration, per proxy. Pure: inputs in, dicts out.

`compile_mesh(plan, state)` returns, for every proxy (each sidecar and the
ingress gateway), its listeners, clusters and route configurations. The
writer puts them on disk; nothing here touches files, processes or time.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from meshsim.control import envoy as e
from meshsim.control import traffic
from meshsim.control.gotchas import gotcha_warnings
from meshsim.control.jwt_authn import authenticate_mesh
from meshsim.control.observe import Observability, observe_mesh
from meshsim.control.plan import Instance, MeshPlan
from meshsim.control.security import secure_mesh
from meshsim.control.state import PolicyState
from meshsim.control.xds import ROUTE_INBOUND, ROUTE_INGRESS, ROUTE_OUTBOUND, Paths, ProxyConfig
from meshsim.scenario.gateway_api import FROM_ANNOTATION
from meshsim.scenario.gateway_routes import (
    backend_versions,
    gateway_match,
    made_by_httproute,
    version_service,
)
from meshsim.scenario.istio import (
    Destination,
    VirtualService,
    short_host,
)
from meshsim.shop import NAMESPACE, SERVICE_PORT, fqdn

# Istio's default retry policy for HTTP routes without `retries` (see traffic.py).
ISTIO_DEFAULT_RETRY_ON = traffic.ISTIO_DEFAULT_RETRY_ON
ISTIO_DEFAULT_ATTEMPTS = traffic.ISTIO_DEFAULT_ATTEMPTS


def compile_mesh(
    plan: MeshPlan,
    state: PolicyState,
    paths: Paths,
    *,
    observability: Observability | None = None,
) -> dict[str, ProxyConfig]:
    """Every proxy's configuration; `observability` adds tracing and access
    logs (meshsim.control.observe), None leaves them out."""
    clusters, warnings = _outbound_clusters(plan, state)
    warnings += gotcha_warnings(plan, state)
    out: dict[str, ProxyConfig] = {}
    ingress_routes = _ingress_routes(plan, state, warnings)
    out[plan.ingress.name] = ProxyConfig(
        plan.ingress.name,
        listeners=[_ingress_listener(plan)],
        clusters=clusters,
        routes={
            ROUTE_INGRESS: ingress_routes
            | {"request_headers_to_add": traffic.source_header(plan.ingress.name)}
        },
        warnings=list(warnings),
    )
    outbound_routes = _outbound_routes(plan, state, warnings)
    for inst in plan.instances:
        out[inst.name] = ProxyConfig(
            inst.name,
            listeners=_sidecar_listeners(inst),
            clusters=clusters + [_inbound_cluster(inst)],
            routes={
                ROUTE_OUTBOUND: outbound_routes
                | {"request_headers_to_add": traffic.source_header(inst.service)},
                ROUTE_INBOUND: _inbound_routes(inst, state),
            },
            warnings=list(warnings),
        )
    # mTLS and authorization (PeerAuthentication, AuthorizationPolicy): a last pass.
    secure_mesh(plan, state, paths, out)
    authenticate_mesh(plan, state, out)  # RequestAuthentication: jwt_authn before RBAC
    if observability is not None:
        observe_mesh(plan, paths, out, observability)
    return out


# ---------------------------------------------------------------- listeners


def _sidecar_listeners(inst: Instance) -> list[dict[str, Any]]:
    outbound = e.listener(
        "outbound_http_proxy",
        inst.host,
        inst.outbound_port,
        [
            e.http_connection_manager(
                "outbound_0.0.0.0_80",
                ROUTE_OUTBOUND,
                [e.fault_filter()],
            )
        ],
    )
    inbound = e.listener(
        "virtualInbound",
        inst.host,
        inst.inbound_port,
        [
            e.http_connection_manager(
                f"inbound_0.0.0.0_{SERVICE_PORT}",
                ROUTE_INBOUND,
                [e.fault_filter()],
            )
        ],
    )
    return [outbound, inbound]


def _ingress_listener(plan: MeshPlan) -> dict[str, Any]:
    g = plan.ingress
    return e.listener(
        "0.0.0.0_8080",
        g.host,
        g.port,
        [
            e.http_connection_manager(
                "outbound_0.0.0.0_8080",
                ROUTE_INGRESS,
                [e.fault_filter()],
                use_remote_address=True,
            )
        ],
    )


# ----------------------------------------------------------------- clusters


# DestinationRule traffic policy → cluster fields: see meshsim/control/traffic.py.
_merge_policy = traffic.merge_policy
_cluster_options = traffic.cluster_options


def _outbound_clusters(
    plan: MeshPlan, state: PolicyState
) -> tuple[list[dict[str, Any]], list[str]]:
    clusters: list[dict[str, Any]] = []
    warnings: list[str] = []
    for service in plan.services:
        members = plan.of_service(service)
        dr = state.destination_rule(service)
        host_policy = dr.spec.trafficPolicy if dr else None
        clusters.append(
            e.static_cluster(
                e.outbound_cluster_name(service),
                [(i.host, i.inbound_port) for i in members],
                **_cluster_options(_merge_policy(host_policy, None)),
            )
        )
        for subset in dr.spec.subsets if dr else []:
            chosen = [i for i in members if _labels_match(subset.labels, i.labels)]
            if not chosen:
                warnings.append(
                    f"DestinationRule/{dr.metadata.name if dr else ''}: subset {subset.name!r} "
                    f"selects no instance of {service} (labels {subset.labels})"
                )
            clusters.append(
                e.static_cluster(
                    e.outbound_cluster_name(service, subset.name),
                    [(i.host, i.inbound_port) for i in chosen],
                    **_cluster_options(_merge_policy(host_policy, subset.trafficPolicy)),
                )
            )
    # The Service of one version (`product-v2`) that an HTTPRoute names: the
    # instances of that version, as Bookinfo's bookinfo-versions.yaml selects them.
    names = {c["name"] for c in clusters}
    for service, version in backend_versions(state.virtual_services(), plan.services):
        name = e.outbound_cluster_name(service, version)
        if name not in names:
            chosen = [i for i in plan.of_service(service) if i.version == version]
            endpoints = [(i.host, i.inbound_port) for i in chosen]
            clusters.append(e.static_cluster(name, endpoints, **_cluster_options(None)))
    return clusters, warnings


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _inbound_cluster(inst: Instance) -> dict[str, Any]:
    return e.static_cluster(
        e.inbound_cluster_name(inst.service),
        [inst.app_target],
        **traffic.inbound_cluster_options(),
    )


# ------------------------------------------------------------------- routes


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


def _outbound_routes(plan: MeshPlan, state: PolicyState, warnings: list[str]) -> dict[str, Any]:
    vhosts = []
    for service in plan.services:
        vs = state.mesh_virtual_service(service)
        routes = _vs_routes(vs, plan, state, warnings) if vs else [_default_route(service)]
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


def _ingress_routes(plan: MeshPlan, state: PolicyState, warnings: list[str]) -> dict[str, Any]:
    vhosts = []
    seen: set[str] = set()
    for vs in state.gateway_virtual_services():
        domains = [d for d in vs.spec.hosts if d not in seen]
        seen.update(domains)
        if not domains:
            warnings.append(
                f"VirtualService/{vs.metadata.name}: hosts already bound to the gateway"
            )
            continue
        vhosts.append(
            {
                # named after the HTTPRoute(s) it came from, if any (`explain` says so)
                "name": f"gateway:{vs.metadata.annotations.get(FROM_ANNOTATION, vs.metadata.name)}",
                "domains": domains,
                "routes": _vs_routes(vs, plan, state, warnings),
            }
        )
    if "*" not in seen:
        vhosts.append(_blackhole_vhost(404, "no VirtualService bound to meshsim-gateway matches"))
    return {
        "@type": e.T_ROUTE,
        "name": ROUTE_INGRESS,
        "virtual_hosts": vhosts,
        "validate_clusters": False,
    }


# Every answer an inbound sidecar gives names its instance and Envoy's response
# flags ("-": the app answered; "UF": its connection was refused, ...), so the
# load knows which version served a request whatever the app's own headers.
SERVED_BY_HEADER = "x-meshsim-served-by"


def _inbound_routes(inst: Instance, state: PolicyState) -> dict[str, Any]:
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
            }
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
            "retry_policy": _retry_policy(None),
        },
    }


_retry_policy = traffic.retry_policy


def _cluster_for(
    dest: Destination, plan: MeshPlan, state: PolicyState, warnings: list[str], where: str
) -> str:
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
    vs: VirtualService, plan: MeshPlan, state: PolicyState, warnings: list[str]
) -> list[dict[str, Any]]:
    """One Envoy route per match of each http route, as istiod's translateRoute."""
    routes: list[dict[str, Any]] = []
    # Istio compiles an HTTPRoute's PathPrefix as a path-element prefix
    gw = gateway_match if made_by_httproute(vs) else (lambda m: m)
    for i, http in enumerate(vs.spec.http):
        where = traffic.where(vs, i, http)
        if not http.route:  # a redirect or a direct response: no upstream at all
            for j, m in enumerate(http.match or [None]):
                match = gw(traffic.route_match(m))
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
            action["cluster"] = _cluster_for(only.destination, plan, state, warnings, where)
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
                    "name": _cluster_for(d.destination, plan, state, warnings, where),
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
        retry = _retry_policy(http.retries)
        if retry:
            action["retry_policy"] = retry
        mirrors = traffic.mirror_targets(http)
        if mirrors:
            action["request_mirror_policies"] = [
                {
                    "cluster": _cluster_for(dest, plan, state, warnings, where + " mirror"),
                    "runtime_fraction": fraction,
                    "trace_sampled": False,
                }
                for dest, fraction in mirrors
            ]
        fault = traffic.caller_fault(vs, http)
        for j, m in enumerate(http.match or [None]):
            match = gw(traffic.route_match(m))
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


_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")
