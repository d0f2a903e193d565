"""What the builders take besides the routing policies: mTLS, RBAC, JWT, telemetry.

`mesh_inputs(plan, state, paths, observability)` evaluates the security
policies in force once per compile (each workload's PeerAuthentication mode,
the AuthorizationPolicies and RequestAuthentications that select it) and
hands the listener, cluster and route builders what each proxy needs, so
every resource is built secure and observed from the start, as istiod's
builders take a proxy's push context, instead of being patched afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshsim.control.jwt_authn import applies_to as ra_applies_to
from meshsim.control.jwt_authn import jwt_authn_filter, jwt_warnings, request_authentications
from meshsim.control.observe import Observability
from meshsim.control.plan import MeshPlan
from meshsim.control.rbac import rbac_per_route
from meshsim.control.security import (
    DISABLE,
    Workload,
    applies_to,
    destination_tls,
    inbound_log_path,
    mtls_mode,
    security_warnings,
    workloads,
)
from meshsim.control.state import PolicyState
from meshsim.control.xds import ROUTE_INBOUND, ROUTE_INGRESS, Paths


@dataclass(frozen=True)
class ProxyInputs:
    """One proxy's share of the security policies."""

    workload: Workload
    route: str  # the route configuration its policies apply to: inbound, or ingress
    mode: str | None  # its inbound PeerAuthentication mode; None for the gateway
    rbac: dict[str, Any]  # RBACPerRoute configs for its virtual hosts; {}: none
    jwt: dict[str, Any] | None  # its jwt_authn filter, None without RequestAuthentication
    inbound_log: str | None  # the inbound access log authorization reads (sidecars)


@dataclass(frozen=True)
class MeshInputs:
    paths: Paths
    observability: Observability | None
    proxies: dict[str, ProxyInputs]
    tls_endpoints: frozenset[tuple[str, int]]  # endpoints whose workload accepts mTLS
    destination_tls: Callable[[str], str | None]  # cluster name → DestinationRule tls.mode
    identity_of: Callable[[str], str]  # service → SPIFFE ID
    warnings: list[str]


def mesh_inputs(
    plan: MeshPlan, state: PolicyState, paths: Paths, observability: Observability | None
) -> MeshInputs:
    wls = workloads(plan)
    modes = {w.proxy: mtls_mode(state, w) for w in wls.values() if w.service is not None}
    policies = state.authorization_policies()
    authns = request_authentications(state)
    proxies = {}
    for name, w in wls.items():
        sidecar = w.service is not None
        proxies[name] = ProxyInputs(
            workload=w,
            route=ROUTE_INBOUND if sidecar else ROUTE_INGRESS,
            mode=modes[name] if sidecar else None,
            rbac=rbac_per_route([ap for ap in policies if applies_to(ap, w)]),
            jwt=jwt_authn_filter([ra for ra in authns if ra_applies_to(ra, w)], state.local_jwks)
            if authns
            else None,
            inbound_log=inbound_log_path(paths.root, name) if sidecar else None,
        )
    warnings = security_warnings(state, plan)
    if authns:
        warnings += jwt_warnings(authns)
    return MeshInputs(
        paths=paths,
        observability=observability,
        proxies=proxies,
        tls_endpoints=frozenset(
            (i.host, i.inbound_port) for i in plan.instances if modes[i.name] != DISABLE
        ),
        # the same for every proxy: worked out once per cluster
        destination_tls=functools.cache(lambda cluster: destination_tls(state, cluster)),
        identity_of=plan.app.identity_of,
        warnings=warnings,
    )
