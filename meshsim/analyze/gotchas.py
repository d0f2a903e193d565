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


# A call that starts just before a push can still meet a delay in force on one
# proxy while the next proxy has not yet taken the change (or keep the route it
# started on); it ends about one delay later. Settles shorter than that by
# this margin (push, scrape and the call's own time) judge it as if it were
# the phase's own.
SETTLE_MARGIN_S = 0.5


def _delays(view: PhaseView) -> list[tuple[float, str, int | None]]:
    """Every fault delay in force that affects some requests, with the
    resource it is in and the line that applied it."""
    from meshsim.scenario.model import parse_duration

    found = [
        (parse_duration(http.fault.delay.fixedDelay), vs.key, view.line(vs.key))
        for vs in view.state.virtual_services()
        for http in vs.spec.http
        if http.fault is not None and http.fault.delay is not None and http.fault.delay.share > 0
    ]
    return found


def settle_short(
    view: PhaseView, previous: PhaseView | None, time_scale: float = 1.0
) -> list[Finding]:
    """MSA501: a phase settles, so as to judge its edges without the change,
    before the calls in flight at the change can end. An edge's figures are Envoy's counters from the settle point
    (the phase's start without one), so they count calls by when they end; a
    fault delay in force at the change (this phase's or the one before's)
    longer than the settle lets a call that met the old setup end inside the
    judged window. (Journeys, cohorts and endpoints count calls by when they
    were sent, so a settle leaves those calls out.)

    `time_scale` shortens the settle as a run's `--time-scale` does, but not
    the delay: Envoy's fault delays are not scaled."""
    from meshsim.scenario.expect import parse_expectation

    phase = view.scenario.phases[view.index]
    if not any(parse_expectation(text).scope == "edge" for text in phase.expect):
        return []
    settle = view.scenario.settle_of(phase) * time_scale
    if settle <= 0:
        # no settle: the author judges the change with the phase; the few
        # calls it catches weigh little in a whole phase (and are meant)
        return []
    delays = _delays(view) + (_delays(previous) if previous is not None else [])
    if not delays:
        return []
    delay, key, line = max(delays, key=lambda d: d[0])
    if settle >= delay + SETTLE_MARGIN_S:
        return []
    return [
        Finding(
            "MSA501",
            view.name,
            key,
            f"settles {settle:g}s into the phase{_at_scale(time_scale)}, but a call in flight at the change can still meet this "
            f"{delay:g}s delay and end inside the judged window, where its edge "
            f"counts it with the phase; settle at least {delay + SETTLE_MARGIN_S:g}s"
            + _written(delay + SETTLE_MARGIN_S, time_scale),
            view.file,
            line,
        )
    ]


def _at_scale(time_scale: float) -> str:
    """How a message says the settle was scaled; nothing at scale 1."""
    return "" if time_scale == 1 else f" at --time-scale {time_scale:g}"


def _written(need_s: float, time_scale: float) -> str:
    """What to write in the file for a settle of `need_s` at `time_scale`."""
    if time_scale == 1:
        return ""
    return f" (write `settle: {need_s / time_scale:.3g}s` to run at --time-scale {time_scale:g})"
