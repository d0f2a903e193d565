"""Istio resources → Envoy configuration, per proxy. Pure: inputs in, dicts out.

`compile_mesh(plan, state, paths)` returns, for every proxy (each sidecar and
the ingress gateway), its listeners, clusters and route configurations. It is
a pipeline, as istiod's `pilot/pkg/networking/core`:

1. inputs (meshsim.control.inputs): the security policies evaluated per
   proxy (mTLS mode, RBAC rules, jwt_authn), and observability;
2. one builder per Envoy resource kind: clusters.py, routes.py, listeners.py,
   each assembling the small converters of traffic.py, security.py, rbac.py,
   jwt_authn.py and observe.py;
3. a `Snapshot` of every proxy's configuration, checked `consistent()`
   (meshsim.control.xds) before anything is returned.

Nothing here touches files, processes or time.
"""

from __future__ import annotations

from meshsim.control import traffic
from meshsim.control.clusters import mesh_clusters, outbound_clusters, proxy_clusters
from meshsim.control.gotchas import gotcha_warnings
from meshsim.control.inputs import mesh_inputs
from meshsim.control.listeners import ingress_listener, sidecar_listeners
from meshsim.control.observe import Observability
from meshsim.control.plan import MeshPlan
from meshsim.control.routes import RouteContext, inbound_routes, ingress_routes, outbound_routes
from meshsim.control.sds import SECRET_CERT, SECRET_ROOT
from meshsim.control.state import PolicyState
from meshsim.control.xds import (
    ROUTE_INBOUND,
    ROUTE_INGRESS,
    ROUTE_OUTBOUND,
    Paths,
    ProxyConfig,
    Snapshot,
)

# What SDS serves every proxy (meshsim.control.sds: its certificate and the mesh's root).
SERVED_SECRETS = frozenset((SECRET_CERT, SECRET_ROOT))


def compile_mesh(
    plan: MeshPlan,
    state: PolicyState,
    paths: Paths,
    *,
    observability: Observability | None = None,
) -> dict[str, ProxyConfig]:
    """Every proxy's configuration; `observability` adds tracing and access
    logs (meshsim.control.observe), None leaves them out."""
    return compile_snapshot(plan, state, paths, observability=observability).proxies


def compile_snapshot(
    plan: MeshPlan,
    state: PolicyState,
    paths: Paths,
    *,
    observability: Observability | None = None,
) -> Snapshot:
    """The mesh's configuration as one consistent snapshot (InconsistentSnapshot
    when the compiler names what it did not build: a bug)."""
    inputs = mesh_inputs(plan, state, paths, observability)
    clusters, warnings = outbound_clusters(plan, state)
    warnings += gotcha_warnings(plan, state)
    ctx = RouteContext(plan, state, warnings)
    out: dict[str, ProxyConfig] = {}
    gateway = plan.ingress.name
    shared = mesh_clusters(clusters, inputs)
    ingress = ingress_routes(ctx, inputs.proxies[gateway].rbac)
    out[gateway] = ProxyConfig(
        gateway,
        listeners=[ingress_listener(plan, inputs)],
        clusters=proxy_clusters(shared),
        routes={
            ROUTE_INGRESS: ingress | {"request_headers_to_add": traffic.source_header(gateway)}
        },
        # what was said before the sidecars' routes were compiled (as before the
        # pipeline; every push reports the union over proxies)
        warnings=list(warnings) + inputs.warnings,
    )
    outbound = outbound_routes(ctx)
    # One outbound RouteConfiguration per calling service (only its source
    # header differs), shared by its replicas like the clusters above: the
    # delivery side then serializes each once (meshsim.control.encode).
    by_service = {
        s: outbound | {"request_headers_to_add": traffic.source_header(s)}
        for s in {inst.service for inst in plan.instances}
    }
    for inst in plan.instances:
        out[inst.name] = ProxyConfig(
            inst.name,
            listeners=sidecar_listeners(inst, inputs),
            clusters=proxy_clusters(shared, inst),
            routes={
                ROUTE_OUTBOUND: by_service[inst.service],
                ROUTE_INBOUND: inbound_routes(inst, state, inputs.proxies[inst.name].rbac),
            },
            warnings=list(warnings) + inputs.warnings,
        )
    return Snapshot(out, SERVED_SECRETS, frozenset(ctx.unresolved)).consistent()
