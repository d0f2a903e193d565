"""Checks of the policies in force against the mesh: what they name exists,
no route hides another, and the setups that surprise people."""

from __future__ import annotations

import difflib

from meshsim.analyze.context import PhaseView
from meshsim.analyze.findings import Finding
from meshsim.scenario.istio import (
    Destination,
    DestinationRule,
    HTTPMatchRequest,
    HTTPRoute,
    VirtualService,
    short_host,
)
from meshsim.shop import GATEWAY_NAME


def _hit(view: PhaseView, code: str, resource: str, message: str, line: int | None) -> Finding:
    return Finding(code, view.name, resource, message, view.file, line)


def _known(view: PhaseView, host: str) -> bool:
    from meshsim.scenario.gateway_routes import version_service

    name = short_host(host)
    return name in view.services or version_service(name, view.services) is not None


def _destinations(http: HTTPRoute) -> list[Destination]:
    out = [d.destination for d in http.route] + [m.destination for m in http.mirrors]
    return out + ([http.mirror] if http.mirror is not None else [])


def destinations(view: PhaseView) -> list[Finding]:
    """MSA101 unknown host, MSA102 undefined subset, MSA106 subset without instances."""
    from meshsim.scenario.gateway_routes import origin

    out: list[Finding] = []
    services = list(view.services)
    for vs in view.state.virtual_services():
        who, line = origin(vs).split(",")[0], view.line_of(vs)
        for http in vs.spec.http:
            for d in _destinations(http):
                name = short_host(d.host)
                if not _known(view, d.host):
                    close = difflib.get_close_matches(name, services, n=1)
                    out.append(
                        _hit(
                            view,
                            "MSA101",
                            who,
                            f"destination host {d.host!r} is no service of this mesh"
                            + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; its requests fail with 503 (services: {', '.join(services)})",
                            line,
                        )
                    )
                elif d.subset and name in view.services:
                    out += _subset(view, who, line, name, d.subset)
    return out


def _subset(
    view: PhaseView, who: str, line: int | None, service: str, subset: str
) -> list[Finding]:
    dr = view.state.destination_rule(service)
    defined = next((s for s in dr.spec.subsets if s.name == subset), None) if dr else None
    if defined is None:
        return [
            _hit(
                view,
                "MSA102",
                who,
                f"subset {subset!r} of {service} is defined by no DestinationRule; "
                "Istio answers 503 (no cluster) for its requests",
                line,
            )
        ]
    members = view.plan.of_service(service)
    if not any(all(i.labels.get(k) == v for k, v in defined.labels.items()) for i in members):
        return [
            _hit(
                view,
                "MSA106",
                who,
                f"subset {subset!r} of {service} (labels {defined.labels}) selects no "
                "running instance: its requests fail with 503 (no healthy upstream)",
                line,
            )
        ]
    return []


def hosts_and_gateways(view: PhaseView) -> list[Finding]:
    """MSA103 DestinationRule host, MSA105 sidecar VirtualService host, MSA104
    unknown gateway, MSA107 an HTTPRoute's Service parent, MSA109 two
    VirtualServices for one host for the sidecars."""
    from meshsim.scenario.gateway_api import HTTPRoute as GwHTTPRoute

    out: list[Finding] = []
    gateways = {g.metadata.name for g in view.state.gateways()}
    claimed: dict[str, str] = {}
    for r in view.state.resources.values():
        line = view.line(r.key)
        if isinstance(r, DestinationRule) and not _known(view, r.spec.host):
            if "*" not in r.spec.host:
                out.append(
                    _hit(
                        view,
                        "MSA103",
                        r.key,
                        f"host {r.spec.host!r} is no service of this mesh: its subsets "
                        "and traffic policy apply to no call",
                        line,
                    )
                )
        if isinstance(r, VirtualService):
            for g in r.spec.gateways:
                name = g.split("/")[-1]
                if g != "mesh" and name not in gateways:
                    out.append(
                        _hit(
                            view,
                            "MSA104",
                            r.key,
                            f"gateway {g!r} does not exist (the mesh's is {GATEWAY_NAME}): "
                            "these routes apply nowhere",
                            line,
                        )
                    )
            if not r.spec.gateways or "mesh" in r.spec.gateways:
                for host in {short_host(h) for h in r.spec.hosts}:
                    if "*" not in host and not _known(view, host):
                        out.append(
                            _hit(
                                view,
                                "MSA105",
                                r.key,
                                f"host {host!r} is no service of this mesh: no call "
                                "goes to it, so its routes never apply",
                                line,
                            )
                        )
                    elif host in claimed:
                        out.append(
                            _hit(
                                view,
                                "MSA109",
                                r.key,
                                f"{host} is already routed for the sidecars by "
                                f"{claimed[host]}; Istio uses only one of them",
                                line,
                            )
                        )
                    claimed.setdefault(host, r.key)
        if isinstance(r, GwHTTPRoute):
            for p in r.spec.parentRefs:
                if p.is_service and p.name not in view.services:
                    out.append(
                        _hit(
                            view,
                            "MSA107",
                            r.key,
                            f"parent Service {p.name!r} is no service of this mesh: "
                            "the route applies to no call",
                            line,
                        )
                    )
                elif not p.is_service and p.name not in gateways:
                    out.append(
                        _hit(
                            view,
                            "MSA104",
                            r.key,
                            f"parent Gateway {p.name!r} does not exist (the mesh's is "
                            f"{GATEWAY_NAME}): the route applies nowhere",
                            line,
                        )
                    )
    return out


def _catch_all(m: HTTPMatchRequest) -> bool:
    uri = m.uri
    everything = uri is None or (uri.prefix == "/" and not m.ignoreUriCase)
    return bool(
        everything
        and not m.headers
        and not m.withoutHeaders
        and not m.queryParams
        and m.method is None
        and m.port is None
    )


def shadowed(view: PhaseView) -> list[Finding]:
    """MSA401: an http route after one that takes every request, or with a
    match an earlier route already has, is never used (IST0131)."""
    from meshsim.scenario.gateway_routes import origin

    out: list[Finding] = []
    for vs in view.state.virtual_services():
        seen: list[HTTPMatchRequest] = []
        taken_by: int | None = None
        for i, http in enumerate(vs.spec.http):
            name = http.name or f"http[{i}]"
            if taken_by is not None:
                why = f"the route before it ({vs.spec.http[taken_by].name or f'http[{taken_by}]'}) takes every request"
            elif http.match and all(m in seen for m in http.match):
                why = "an earlier route has the same match"
            else:
                why = ""
            if why:
                out.append(
                    _hit(
                        view,
                        "MSA401",
                        origin(vs).split(",")[0],
                        f"route {name} is never used: {why}",
                        view.line_of(vs),
                    )
                )
            seen += http.match
            if taken_by is None and (not http.match or any(_catch_all(m) for m in http.match)):
                taken_by = i
    return out
