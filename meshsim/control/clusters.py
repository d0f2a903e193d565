"""The clusters: one per service and DestinationRule subset, each sidecar's app.

As istiod's cluster builder: the outbound clusters are built once per compile
from the services and their DestinationRules (traffic policy fields through
the converters in `meshsim.control.traffic`), then each proxy gets them with
Istio's auto mTLS for its own identity (meshsim.control.security.auto_mtls),
its inbound cluster if it is a sidecar, and the span collector's cluster when
tracing is on.
"""

from __future__ import annotations

from typing import Any

from meshsim.control import envoy as e
from meshsim.control import traffic
from meshsim.control.inputs import MeshInputs
from meshsim.control.observe import COLLECTOR_CLUSTER, collector_cluster
from meshsim.control.plan import Instance, MeshPlan
from meshsim.control.security import auto_mtls
from meshsim.control.state import PolicyState
from meshsim.scenario.gateway_routes import backend_versions


def outbound_clusters(plan: MeshPlan, state: PolicyState) -> tuple[list[dict[str, Any]], list[str]]:
    """Every proxy's outbound clusters, before mTLS, and what is odd about them."""
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
                **traffic.cluster_options(traffic.merge_policy(host_policy, None)),
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
                    **traffic.cluster_options(
                        traffic.merge_policy(host_policy, subset.trafficPolicy)
                    ),
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
            clusters.append(e.static_cluster(name, endpoints, **traffic.cluster_options(None)))
    return clusters, warnings


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def inbound_cluster(inst: Instance) -> dict[str, Any]:
    return e.static_cluster(
        e.inbound_cluster_name(inst.service),
        [inst.app_target],
        **traffic.inbound_cluster_options(),
    )


def mesh_clusters(outbound: list[dict[str, Any]], inputs: MeshInputs) -> list[dict[str, Any]]:
    """The outbound clusters with Istio's auto mTLS, and the span collector's:
    built once per compile and shared by every proxy (`proxy_clusters`).

    Nothing in them is a proxy's own: the client TLS context names its SDS
    secrets by name only (each Envoy's SDS answers `default` with its own
    certificate), the peer's SPIFFE ID is the destination's. Sharing the same
    dicts lets the delivery side serialize each once per compile
    (meshsim.control.encode), not once per proxy."""
    out = [
        auto_mtls(
            c,
            inputs.tls_endpoints,
            inputs.paths,
            "",  # the proxy: unused, see above
            inputs.destination_tls(c["name"]),
            inputs.identity_of,
        )
        for c in outbound
    ]
    obs = inputs.observability
    if obs is not None and obs.collector is not None:
        out.append(collector_cluster(*obs.collector))
    return out


def proxy_clusters(
    shared: list[dict[str, Any]], inst: Instance | None = None
) -> list[dict[str, Any]]:
    """One proxy's clusters (a list of its own; the dicts of `shared`, from
    `mesh_clusters`, are everyone's): a sidecar (`inst`) adds its inbound
    cluster before the collector's (the order the compiler always gave)."""
    if inst is None:
        return list(shared)
    n = len(shared) - (1 if shared and shared[-1]["name"] == COLLECTOR_CLUSTER else 0)
    return [*shared[:n], inbound_cluster(inst), *shared[n:]]
