"""Istio resources → Envoy configuration, per proxy. Pure: inputs in, dicts out.

`compile_mesh(plan, state)` returns, for every proxy (each sidecar and the
ingress gateway), its listeners, clusters and route configurations. The
writer puts them on disk; nothing here touches files, processes or time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshsim.control import envoy as e
from meshsim.control.istio import (
    Destination,
    Headers,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    StringMatch,
    TrafficPolicy,
    VirtualService,
    short_host,
)
from meshsim.control.plan import Instance, MeshPlan
from meshsim.control.state import PolicyState
from meshsim.shop import NAMESPACE, SERVICE_PORT, fqdn

# Istio's default retry policy for HTTP routes without `retries`
# (networking/core/v1alpha3/route/retry: attempts 2, these conditions, 503
# retriable, a different host on each try).
ISTIO_DEFAULT_RETRY_ON = (
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)
ISTIO_DEFAULT_ATTEMPTS = 2

ROUTE_OUTBOUND = "outbound"
ROUTE_INBOUND = "inbound"
ROUTE_INGRESS = "ingress"


@dataclass
class ProxyConfig:
    """Everything one Envoy is given: its listeners, clusters and routes."""

    name: str
    listeners: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    routes: dict[str, dict[str, Any]]  # route config name → RouteConfiguration
    warnings: list[str] = field(default_factory=list)


@dataclass
class Paths:
    """Where a proxy's xDS files live (the writer decides; the config refers to them)."""

    root: str

    def dir(self, proxy: str) -> str:
        return f"{self.root}/{proxy}"

    def file(self, proxy: str, kind: str) -> str:
        return f"{self.root}/{proxy}/{kind}.json"


def compile_mesh(plan: MeshPlan, state: PolicyState, paths: Paths) -> dict[str, ProxyConfig]:
    clusters, warnings = _outbound_clusters(plan, state)
    out: dict[str, ProxyConfig] = {}
    ingress_routes = _ingress_routes(plan, state, warnings)
    out[plan.ingress.name] = ProxyConfig(
        plan.ingress.name,
        listeners=[_ingress_listener(plan, paths)],
        clusters=clusters,
        routes={ROUTE_INGRESS: ingress_routes},
        warnings=list(warnings),
    )
    outbound_routes = _outbound_routes(plan, state, warnings)
    for inst in plan.instances:
        out[inst.name] = ProxyConfig(
            inst.name,
            listeners=_sidecar_listeners(inst, paths),
            clusters=clusters + [_inbound_cluster(inst)],
            routes={ROUTE_OUTBOUND: outbound_routes, ROUTE_INBOUND: _inbound_routes(inst)},
            warnings=list(warnings),
        )
    return out


# ---------------------------------------------------------------- listeners


def _sidecar_listeners(inst: Instance, paths: Paths) -> list[dict[str, Any]]:
    d = paths.dir(inst.name)
    outbound = e.listener(
        "outbound_http_proxy",
        inst.host,
        inst.outbound_port,
        [
            e.http_connection_manager(
                "outbound_0.0.0.0_80",
                ROUTE_OUTBOUND,
                paths.file(inst.name, f"rds_{ROUTE_OUTBOUND}"),
                d,
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
                paths.file(inst.name, f"rds_{ROUTE_INBOUND}"),
                d,
                [e.fault_filter()],
            )
        ],
    )
    return [outbound, inbound]


def _ingress_listener(plan: MeshPlan, paths: Paths) -> dict[str, Any]:
    g = plan.ingress
    return e.listener(
        "0.0.0.0_8080",
        g.host,
        g.port,
        [
            e.http_connection_manager(
                "outbound_0.0.0.0_8080",
                ROUTE_INGRESS,
                paths.file(g.name, f"rds_{ROUTE_INGRESS}"),
                paths.dir(g.name),
                [e.fault_filter()],
                use_remote_address=True,
            )
        ],
    )


# ----------------------------------------------------------------- clusters


def _merge_policy(host: TrafficPolicy | None, subset: TrafficPolicy | None) -> TrafficPolicy | None:
    """Istio: a subset's policy overrides the host-level one field by field."""
    if host is None:
        return subset
    if subset is None:
        return host
    return TrafficPolicy(
        loadBalancer=subset.loadBalancer or host.loadBalancer,
        connectionPool=subset.connectionPool or host.connectionPool,
        outlierDetection=subset.outlierDetection or host.outlierDetection,
    )


def _cluster_options(policy: TrafficPolicy | None) -> dict[str, Any]:
    """A DestinationRule traffic policy as Envoy cluster fields, Istio's defaults otherwise."""
    opts: dict[str, Any] = {"lb_policy": "LEAST_REQUEST"}
    limits = {
        "max_connections": e.UNLIMITED,
        "max_pending_requests": e.UNLIMITED,
        "max_requests": e.UNLIMITED,
        "max_retries": e.UNLIMITED,
    }
    if policy is None:
        opts["circuit_breakers"] = {"thresholds": [limits]}
        return opts
    if policy.loadBalancer:
        simple = policy.loadBalancer.simple
        opts["lb_policy"] = {
            "ROUND_ROBIN": "ROUND_ROBIN",
            "RANDOM": "RANDOM",
            "LEAST_REQUEST": "LEAST_REQUEST",
            "LEAST_CONN": "LEAST_REQUEST",
            "UNSPECIFIED": "LEAST_REQUEST",
        }[simple]
    pool = policy.connectionPool
    if pool and pool.tcp:
        if pool.tcp.maxConnections is not None:
            limits["max_connections"] = pool.tcp.maxConnections
        if pool.tcp.connectTimeout:
            opts["connect_timeout"] = pool.tcp.connectTimeout
    if pool and pool.http:
        h = pool.http
        if h.http1MaxPendingRequests is not None:
            limits["max_pending_requests"] = h.http1MaxPendingRequests
        if h.http2MaxRequests is not None:
            limits["max_requests"] = h.http2MaxRequests
        if h.maxRetries is not None:
            limits["max_retries"] = h.maxRetries
        if h.maxRequestsPerConnection:
            opts["typed_extension_protocol_options"] = {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": e.T_HTTP_OPTIONS,
                    "common_http_protocol_options": {
                        "max_requests_per_connection": h.maxRequestsPerConnection
                    },
                    "explicit_http_config": {"http_protocol_options": {}},
                }
            }
    opts["circuit_breakers"] = {"thresholds": [limits]}
    od = policy.outlierDetection
    if od is not None:
        c5 = od.consecutive5xxErrors
        cg = od.consecutiveGatewayErrors
        detection: dict[str, Any] = {
            "interval": od.interval or "10s",
            "base_ejection_time": od.baseEjectionTime or "30s",
            "max_ejection_percent": od.maxEjectionPercent
            if od.maxEjectionPercent is not None
            else 10,
            "enforcing_success_rate": 0,
        }
        if c5:
            detection["consecutive_5xx"] = c5
            detection["enforcing_consecutive_5xx"] = 100
        else:
            detection["enforcing_consecutive_5xx"] = 0
        if cg:
            detection["consecutive_gateway_failure"] = cg
            detection["enforcing_consecutive_gateway_failure"] = 100
        opts["outlier_detection"] = detection
        # Istio maps minHealthPercent to Envoy's panic threshold (default 0: off).
        opts["common_lb_config"] = {"healthy_panic_threshold": {"value": od.minHealthPercent or 0}}
    return opts


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
                **_cluster_options(host_policy),
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
    return clusters, warnings


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _inbound_cluster(inst: Instance) -> dict[str, Any]:
    return e.static_cluster(
        e.inbound_cluster_name(inst.service),
        [(inst.host, inst.app_port)],
        connect_timeout="10s",
        circuit_breakers={
            "thresholds": [
                {
                    "max_connections": e.UNLIMITED,
                    "max_pending_requests": e.UNLIMITED,
                    "max_requests": e.UNLIMITED,
                    "max_retries": e.UNLIMITED,
                }
            ]
        },
    )


# ------------------------------------------------------------------- routes


def _domains(service: str) -> list[str]:
    names = [service, f"{service}.{NAMESPACE}", f"{service}.{NAMESPACE}.svc", fqdn(service)]
    return names + [f"{n}:{SERVICE_PORT}" for n in names]


def _outbound_routes(plan: MeshPlan, state: PolicyState, warnings: list[str]) -> dict[str, Any]:
    vhosts = []
    for service in plan.services:
        vs = state.mesh_virtual_service(service)
        routes = _vs_routes(vs, plan, state, warnings) if vs else [_default_route(service)]
        vhosts.append(
            {
                "name": f"{fqdn(service)}:{SERVICE_PORT}",
                "domains": _domains(service),
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
                "name": f"gateway:{vs.metadata.name}",
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


def _inbound_routes(inst: Instance) -> dict[str, Any]:
    return {
        "@type": e.T_ROUTE,
        "name": ROUTE_INBOUND,
        "validate_clusters": False,
        "virtual_hosts": [
            {
                "name": f"inbound|http|{SERVICE_PORT}",
                "domains": ["*"],
                "routes": [
                    {
                        "name": "default",
                        "match": {"prefix": "/"},
                        "route": {"cluster": e.inbound_cluster_name(inst.service), "timeout": "0s"},
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


def _retry_policy(retries: HTTPRetry | None) -> dict[str, Any] | None:
    attempts = ISTIO_DEFAULT_ATTEMPTS if retries is None else retries.attempts
    if attempts == 0:
        return None
    retry_on = ISTIO_DEFAULT_RETRY_ON
    if retries is not None and retries.retryOn:
        retry_on = retries.retryOn
    conditions, codes = [], []
    for part in (p.strip() for p in retry_on.split(",")):
        if part.isdigit():
            codes.append(int(part))
        elif part:
            conditions.append(part)
    if retry_on == ISTIO_DEFAULT_RETRY_ON:
        codes = [503]
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    policy: dict[str, Any] = {
        "retry_on": ",".join(conditions),
        "num_retries": attempts,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
                    ".PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 5,
    }
    if codes:
        policy["retriable_status_codes"] = codes
    if retries is not None and retries.perTryTimeout:
        policy["per_try_timeout"] = retries.perTryTimeout
    return policy


def _cluster_for(
    dest: Destination, plan: MeshPlan, state: PolicyState, warnings: list[str], where: str
) -> str:
    service = short_host(dest.host)
    if service not in plan.services:
        warnings.append(f"{where}: destination host {dest.host!r} is not a service in this mesh")
    if dest.subset:
        dr = state.destination_rule(service)
        if dr is None or all(s.name != dest.subset for s in dr.spec.subsets):
            warnings.append(
                f"{where}: subset {dest.subset!r} of {service} is not defined by any "
                "DestinationRule; Istio answers 503 (no cluster) for these requests"
            )
    return e.outbound_cluster_name(service, dest.subset or "")


def _string_match(m: StringMatch) -> dict[str, Any]:
    if m.exact is not None:
        return {"exact": m.exact}
    if m.prefix is not None:
        return {"prefix": m.prefix}
    return {"safe_regex": {"regex": m.regex}}


def _match(m: HTTPMatchRequest | None) -> dict[str, Any] | None:
    if m is None:
        return {"prefix": "/"}
    if m.port is not None and m.port != SERVICE_PORT:
        return None  # this match can never apply: every shop service listens on 80
    out: dict[str, Any] = {}
    if m.uri is None or m.uri.prefix is not None:
        out["prefix"] = m.uri.prefix if m.uri else "/"
    elif m.uri.exact is not None:
        out["path"] = m.uri.exact
    else:
        out["safe_regex"] = {"regex": m.uri.regex}
    if m.ignoreUriCase:
        out["case_sensitive"] = False
    headers: list[dict[str, Any]] = [
        {"name": k, "string_match": _string_match(v)} for k, v in m.headers.items()
    ]
    if m.method is not None:
        headers.append({"name": ":method", "string_match": _string_match(m.method)})
    headers += [
        {"name": k, "string_match": _string_match(v), "invert_match": True}
        for k, v in m.withoutHeaders.items()
    ]
    if headers:
        out["headers"] = headers
    if m.queryParams:
        out["query_parameters"] = [
            {"name": k, "string_match": _string_match(v)} for k, v in m.queryParams.items()
        ]
    return out


def _header_ops(h: Headers | None) -> dict[str, Any]:
    if h is None:
        return {}
    out: dict[str, Any] = {}
    for side, ops in (("request", h.request), ("response", h.response)):
        if ops is None:
            continue
        add = [
            {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in ops.set.items()
        ] + [
            {"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
            for k, v in ops.add.items()
        ]
        if add:
            out[f"{side}_headers_to_add"] = add
        if ops.remove:
            out[f"{side}_headers_to_remove"] = list(ops.remove)
    return out


def _fault(http: HTTPRoute) -> dict[str, Any] | None:
    if http.fault is None:
        return None
    cfg: dict[str, Any] = {"@type": e.T_FAULT}
    if http.fault.delay:
        cfg["delay"] = {
            "fixed_delay": http.fault.delay.fixedDelay,
            "percentage": e.percent(http.fault.delay.share),
        }
    if http.fault.abort:
        cfg["abort"] = {
            "http_status": http.fault.abort.httpStatus,
            "percentage": e.percent(http.fault.abort.share),
        }
    return cfg


def _vs_routes(
    vs: VirtualService, plan: MeshPlan, state: PolicyState, warnings: list[str]
) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for i, http in enumerate(vs.spec.http):
        where = f"VirtualService/{vs.metadata.name} http[{i}]"
        action: dict[str, Any] = {"timeout": http.timeout or "0s"}
        dests = [d for d in http.route if d.weight > 0 or len(http.route) == 1]
        if len(dests) == 1:
            action["cluster"] = _cluster_for(dests[0].destination, plan, state, warnings, where)
        else:
            action["weighted_clusters"] = {
                "clusters": [
                    {
                        "name": _cluster_for(d.destination, plan, state, warnings, where),
                        "weight": d.weight,
                        **_header_ops(d.headers),
                    }
                    for d in dests
                ]
            }
        retry = _retry_policy(http.retries)
        if retry:
            action["retry_policy"] = retry
        if http.mirror is not None:
            mirror: dict[str, Any] = {
                "cluster": _cluster_for(http.mirror, plan, state, warnings, where + " mirror")
            }
            share = http.mirrorPercentage.value if http.mirrorPercentage else 100.0
            mirror["runtime_fraction"] = {"default_value": e.percent(share)}
            action["request_mirror_policies"] = [mirror]
        extra = _header_ops(http.headers)
        if len(dests) == 1:
            for k, v in _header_ops(dests[0].headers).items():
                extra.setdefault(k, []).extend(v)
        fault = _fault(http)
        for j, m in enumerate(http.match or [None]):
            match = _match(m)
            if match is None:
                continue
            route: dict[str, Any] = {
                "name": http.name or f"{vs.metadata.name}.{i}.{j}",
                "match": match,
                "route": action,
                **extra,
            }
            if fault:
                route["typed_per_filter_config"] = {"envoy.filters.http.fault": fault}
            routes.append(route)
    return routes


_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")
