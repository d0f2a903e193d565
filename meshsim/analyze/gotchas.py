"""Valid setups that do not do what their author probably meant."""

from __future__ import annotations

from meshsim.analyze.context import PhaseView
from meshsim.analyze.findings import Finding
from meshsim.scenario.istio import HTTPRoute, TrafficPolicy, short_host
from meshsim.scenario.model import resolve_target


def _splits_or_faults(http: HTTPRoute) -> bool:
    """A canary (traffic split over several destinations) or a fault."""
    return sum(1 for d in http.route if d.weight > 0 or len(http.route) == 1) > 1 or (
        http.fault is not None
    )


def ingress_missed(view: PhaseView) -> list[Finding]:
    """MSA301: a sidecar route that splits or injects faults for a service the
    ingress calls as a whole: the shoppers' requests through the gateway
    follow the gateway's route, not this one."""
    from meshsim.scenario.gateway_routes import origin

    whole: dict[str, str] = {}
    for gvs in view.state.gateway_virtual_services():
        for http in gvs.spec.http:
            for d in http.route:
                if d.destination.subset is None and short_host(d.destination.host) in view.services:
                    whole.setdefault(short_host(d.destination.host), origin(gvs).split(",")[0])
    out: list[Finding] = []
    for service, gateway_route in whole.items():
        vs = view.state.mesh_virtual_service(service)
        if vs is None or not any(_splits_or_faults(h) for h in vs.spec.http):
            continue
        who = origin(vs).split(",")[0]
        out.append(
            Finding(
                "MSA301",
                view.name,
                who,
                f"splits or faults only the calls sidecars make to {service} (e.g. order → "
                f"{service}): the ingress's "
                f"calls to {service} follow {gateway_route} (bound to the gateway), which "
                f"sends them to {service} as a whole; give that route the same split",
                view.file,
                view.line_of(vs),
            )
        )
    return out


def ejection(view: PhaseView) -> list[Finding]:
    """MSA302: outlier detection allowed to eject every instance of a pool
    (maxEjectionPercent 100, or one instance and no panic threshold): then
    every call fails with 503 until the ejection ends."""
    from meshsim.control.traffic import merge_policy

    out: list[Finding] = []
    for dr in view.state.destination_rules():
        service = short_host(dr.spec.host)
        members = view.plan.of_service(service)
        pools: list[tuple[str, TrafficPolicy | None, int]] = [
            (service, merge_policy(dr.spec.trafficPolicy, None), len(members))
        ]
        for s in dr.spec.subsets:
            chosen = [i for i in members if all(i.labels.get(k) == v for k, v in s.labels.items())]
            pools.append(
                (
                    f"{service} subset {s.name}",
                    merge_policy(dr.spec.trafficPolicy, s.trafficPolicy),
                    len(chosen),
                )
            )
        for pool, policy, n in pools:
            od = policy.outlierDetection if policy else None
            if od is None or n == 0 or od.maxEjectionPercent is None:
                continue
            # Envoy ejects at most max_ejection_percent of the pool, rounded down
            if od.maxEjectionPercent * n // 100 >= n and not od.minHealthPercent:
                out.append(
                    Finding(
                        "MSA302",
                        view.name,
                        dr.key,
                        f"outlier detection may eject all {n} instance{'s' if n > 1 else ''} of "
                        f"{pool} (maxEjectionPercent {od.maxEjectionPercent}, no "
                        "minHealthPercent): then every call to it fails with 503 until "
                        "baseEjectionTime passes; keep one instance in (a lower "
                        "maxEjectionPercent) or set minHealthPercent",
                        view.file,
                        view.line(dr.key),
                    )
                )
    return out


def strict_legacy(view: PhaseView) -> list[Finding]:
    """MSA303: a STRICT PeerAuthentication on a workload a legacy client
    (plaintext, outside the mesh) still calls: each of its calls is refused."""
    from meshsim.control.security import mtls_mode, workloads

    out: list[Finding] = []
    found = workloads(view.plan)
    for client in view.scenario.mesh.legacy_clients:
        try:
            targets = resolve_target(view.scenario, client.target)
        except ValueError:
            continue
        strict = [t for t in targets if t in found and mtls_mode(view.state, found[t]) == "STRICT"]
        if not strict:
            continue
        policies = [p.key for p in view.state.peer_authentications()]
        out.append(
            Finding(
                "MSA303",
                view.name,
                policies[-1] if policies else "PeerAuthentication",
                f"legacy client {client.name!r} (plaintext, no sidecar) calls "
                f"{', '.join(strict)}, which accept{'s' if len(strict) == 1 else ''} only "
                "mTLS (STRICT): every call it makes is refused",
                view.file,
                view.line(policies[-1]) if policies else None,
            )
        )
    return out
