"""The listeners: each sidecar's outbound and inbound, and the gateway's.

As istiod's listener builder, each listener is built whole from its inputs
(meshsim.control.inputs): the HTTP connection manager of a workload's own
traffic (the sidecar's inbound, the gateway's) carries jwt_authn when a
RequestAuthentication selects it, then the RBAC filters, then the fault
filter and the router; a sidecar's inbound listener has one filter chain per
transport its PeerAuthentication mode accepts; tracing and access logs are
set on every HTTP connection manager when observability is on.
"""

from __future__ import annotations

from typing import Any

from meshsim.control import envoy as e
from meshsim.control.inputs import MeshInputs, ProxyInputs
from meshsim.control.jwt_authn import with_jwt
from meshsim.control.observe import INBOUND, INGRESS, OUTBOUND, access_logs, tracing
from meshsim.control.plan import Instance, MeshPlan
from meshsim.control.rbac import rbac_http_filters
from meshsim.control.security import TLS_INSPECTOR, inbound_access_log, inbound_chains
from meshsim.control.xds import ROUTE_INBOUND, ROUTE_INGRESS, ROUTE_OUTBOUND
from meshsim.shop import SERVICE_PORT


def _hcm(
    stat_prefix: str,
    route: str,
    proxy: str,
    direction: str,
    inputs: MeshInputs,
    policy: ProxyInputs | None,
    *,
    use_remote_address: bool = False,
) -> dict[str, Any]:
    """An HTTP connection manager; `policy` when it serves the workload's own
    traffic (authentication, authorization, the inbound log)."""
    hcm = e.http_connection_manager(
        stat_prefix, route, [e.fault_filter()], use_remote_address=use_remote_address
    )
    config = hcm["typed_config"]
    if policy is not None:
        config["http_filters"] = rbac_http_filters() + config["http_filters"]
        if policy.inbound_log is not None:
            config["access_log"] = [inbound_access_log(policy.inbound_log)]
        if policy.jwt is not None:
            config["http_filters"] = with_jwt(config["http_filters"], policy.jwt)
    obs = inputs.observability
    if obs is not None:
        if obs.collector is not None:
            config["tracing"] = tracing(proxy, direction, obs.sampling)
        if obs.access_logs:
            config["access_log"] = access_logs(
                config.get("access_log", []), proxy, direction, obs, inputs.paths.root
            )
    return hcm


def _traced(listener: dict[str, Any], direction: str, inputs: MeshInputs) -> dict[str, Any]:
    # Envoy makes an OUTBOUND listener's spans CLIENT spans, others SERVER.
    if inputs.observability is not None and inputs.observability.collector is not None:
        listener["traffic_direction"] = direction.upper()
    return listener


def sidecar_listeners(inst: Instance, inputs: MeshInputs) -> list[dict[str, Any]]:
    name = inst.name
    policy = inputs.proxies[name]
    outbound = e.listener(
        "outbound_http_proxy",
        inst.host,
        inst.outbound_port,
        [_hcm("outbound_0.0.0.0_80", ROUTE_OUTBOUND, name, OUTBOUND, inputs, None)],
    )
    inbound = e.listener("virtualInbound", inst.host, inst.inbound_port, [])
    stat_prefix = f"inbound_0.0.0.0_{SERVICE_PORT}"
    inbound["filter_chains"] = inbound_chains(
        policy.mode or "",
        lambda: [_hcm(stat_prefix, ROUTE_INBOUND, name, INBOUND, inputs, policy)],
        inputs.paths,
        name,
    )
    inbound["listener_filters"] = [TLS_INSPECTOR]
    return [_traced(outbound, OUTBOUND, inputs), _traced(inbound, INBOUND, inputs)]


def ingress_listener(plan: MeshPlan, inputs: MeshInputs) -> dict[str, Any]:
    g = plan.ingress
    hcm = _hcm(
        "outbound_0.0.0.0_8080",
        ROUTE_INGRESS,
        g.name,
        INGRESS,
        inputs,
        inputs.proxies[g.name],
        use_remote_address=True,
    )
    return e.listener("0.0.0.0_8080", g.host, g.port, [hcm])
