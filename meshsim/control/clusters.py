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
from meshsim.control.observe import collector_cluster
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


def proxy_clusters(
    proxy: str,
    outbound: list[dict[str, Any]],
    inputs: MeshInputs,
    inst: Instance | None = None,
) -> list[dict[str, Any]]:
    """One proxy's clusters: the outbound ones with auto mTLS as `proxy`, its
    inbound cluster (a sidecar, `inst`), the span collector's."""
    out = [
        auto_mtls(
            c,
            inputs.tls_endpoints,
            inputs.paths,
            proxy,
            inputs.destination_tls(c["name"]),
            inputs.identity_of,
        )
        for c in outbound
    ]
    if inst is not None:
        out.append(inbound_cluster(inst))
    obs = inputs.observability
    if obs is not None and obs.collector is not None:
        out.append(collector_cluster(*obs.collector))
    return out
