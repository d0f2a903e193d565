"""HTTPRoutes → the VirtualServices Istio makes of them (conversion.go).

Pure: the HTTPRoutes in force in, VirtualServices out, which translate.py
compiles like any other. Also what the scenario checks and `meshsim analyze`
need: which `<service>-<version>` Services are reached, and which HTTPRoute
and VirtualService claim the same host.
"""

from __future__ import annotations

from typing import Any

from meshsim.scenario.gateway_api import (
    FROM_ANNOTATION,
    GwBackendObjectReference,
    GwBackendRef,
    GwHeader,
    GwHeaderFilter,
    GwHeaderMatch,
    GwMirror,
    GwPathMatch,
    GwQueryParamMatch,
    GwRedirect,
    GwRouteMatch,
    GwRule,
    GwURLRewrite,
    HTTPRoute,
)
from meshsim.scenario.istio import (
    Destination,
    HeaderOperations,
    Headers,
    HTTPMatchRequest,
    HTTPMirrorPolicy,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRouteDestination,
    IstioError,
    Percent,
    PortSelector,
    RegexRewrite,
    StringMatch,
    VirtualService,
    VirtualServiceSpec,
    parse_resource,
    short_host,
)
from meshsim.scenario.istio import HTTPDirectResponse as DirectResponse
from meshsim.scenario.istio import HTTPRoute as IstioHTTPRoute
from meshsim.scenario.istio_base import Resource
from meshsim.scenario.model import parse_duration
from meshsim.shop import GATEWAY_NAME, SERVICE_PORT


def version_service(name: str, services: dict[str, Any]) -> tuple[str, str] | None:
    """`product-v2` → ("product", "v2") when the mesh runs product's v2: the
    Service selecting one version (Bookinfo's bookinfo-versions.yaml)."""
    for service, versions in services.items():
        prefix = f"{service}-"
        if name.startswith(prefix) and name[len(prefix) :] in versions:
            return service, name[len(prefix) :]
    return None


def _destination(ref: GwBackendObjectReference) -> Destination:
    return Destination(host=ref.name, port=PortSelector(number=ref.port or SERVICE_PORT))


def _headers(f: GwHeaderFilter) -> HeaderOperations:
    def first(headers: list[GwHeader]) -> dict[str, str]:
        # "Subsequent entries with an equivalent header name MUST be ignored"
        out: dict[str, str] = {}
        for h in headers:
            out.setdefault(h.name.lower(), h.value)
        return out

    return HeaderOperations(set=first(f.set), add=first(f.add), remove=list(f.remove))


def _match(m: GwRouteMatch) -> HTTPMatchRequest:
    path = m.path or GwPathMatch()
    value = path.value
    if path.type == "PathPrefix":
        # "When specified, a trailing `/` is ignored"; Istio's prefix match is
        # then a path-segment match only because Envoy's is not: see docs.
        uri = StringMatch(prefix=value.rstrip("/") or "/")
    elif path.type == "Exact":
        uri = StringMatch(exact=value)
    else:
        uri = StringMatch(regex=value)

    def strings(
        ms: list[GwHeaderMatch] | list[GwQueryParamMatch], lower: bool
    ) -> dict[str, StringMatch]:
        out: dict[str, StringMatch] = {}
        for h in ms:  # the first of equivalent names wins, as the Gateway API says
            exact = h.type == "Exact"
            out.setdefault(
                h.name.lower() if lower else h.name,
                StringMatch(exact=h.value) if exact else StringMatch(regex=h.value),
            )
        return out

    return HTTPMatchRequest(
        uri=uri,
        headers=strings(m.headers, lower=True),  # header names are case-insensitive
        queryParams=strings(m.queryParams, lower=False),
        method=StringMatch(exact=m.method) if m.method else None,
    )


def _rewrite(f: GwURLRewrite) -> HTTPRewrite | None:
    rw: dict[str, Any] = {}
    if f.path is not None and f.path.type == "ReplacePrefixMatch":
        rw["uri"] = (f.path.replacePrefixMatch or "").rstrip("/") or "/"
    elif f.path is not None:
        rw["uriRegexRewrite"] = RegexRewrite(match="/.*", rewrite=f.path.replaceFullPath or "/")
    if f.hostname:
        rw["authority"] = f.hostname
    return HTTPRewrite(**rw) if rw else None


def _redirect(f: GwRedirect) -> HTTPRedirect:
    out: dict[str, Any] = {"redirectCode": f.statusCode}
    if f.hostname:
        out["authority"] = f.hostname
    if f.scheme:
        out["scheme"] = f.scheme
    if f.port is not None:
        out["port"] = f.port
    else:
        # "When empty, port (if specified) of the request is used" (Istio's
        # derivePort: the scheme's default port when the scheme changes)
        out["derivePort"] = "FROM_PROTOCOL_DEFAULT" if f.scheme else "FROM_REQUEST_PORT"
    if f.path is not None and f.path.type == "ReplaceFullPath":
        out["uri"] = f.path.replaceFullPath
    elif f.path is not None:
        out["uri"] = f"%PREFIX()%{f.path.replacePrefixMatch}"
    return HTTPRedirect(**out)


def _mirror(f: GwMirror) -> HTTPMirrorPolicy:
    share: float | None = None
    if f.fraction is not None:
        share = 100.0 * f.fraction.numerator / f.fraction.denominator
    elif f.percent is not None:
        share = float(f.percent)
    return HTTPMirrorPolicy(
        destination=_destination(f.backendRef),
        percentage=Percent(value=share) if share is not None else None,
    )


def convert_rule(route: HTTPRoute, pos: int, rule: GwRule) -> list[IstioHTTPRoute]:
    """One Istio http route per match of a rule, as Istio's convertHTTPRoute
    (a rule with several matches is split so that each sorts on its own)."""
    base: dict[str, Any] = {"name": rule.name or f"{route.metadata.name}.{pos}"}
    headers: dict[str, HeaderOperations] = {}
    mirrors: list[HTTPMirrorPolicy] = []
    for f in rule.filters:
        if f.requestHeaderModifier is not None:
            headers["request"] = _headers(f.requestHeaderModifier)
        elif f.responseHeaderModifier is not None:
            headers["response"] = _headers(f.responseHeaderModifier)
        elif f.requestRedirect is not None:
            base["redirect"] = _redirect(f.requestRedirect)
        elif f.requestMirror is not None:
            mirrors.append(_mirror(f.requestMirror))
        elif f.urlRewrite is not None:
            base["rewrite"] = _rewrite(f.urlRewrite)
    if headers:
        base["headers"] = Headers(**headers)
    if mirrors:
        base["mirrors"] = mirrors
    retries: HTTPRetry | None = None
    if rule.retry is not None:
        attempts = 2 if rule.retry.attempts is None else rule.retry.attempts
        retry_on = ["connect-failure", "refused-stream", "unavailable", "cancelled"]
        retry_on += [str(c) for c in rule.retry.codes]
        retries = HTTPRetry(attempts=attempts, retryOn=",".join(retry_on) if attempts else None)
    t = rule.timeouts
    if t is not None and t.request and _nonzero(t.request):
        base["timeout"] = t.request
    if t is not None and t.backendRequest and _nonzero(t.backendRequest):
        if retries is not None:
            retries = retries.model_copy(update={"perTryTimeout": t.backendRequest})
        else:
            base["timeout"] = t.backendRequest
    if retries is not None:
        base["retries"] = retries
    if "redirect" not in base:
        live = [b for b in rule.backendRefs if b.weight > 0]
        if not live:
            # "the spec requires us to return 500 when there are no >0 weight backends"
            base["directResponse"] = DirectResponse(status=500)
        else:
            ws = weights([b.weight for b in live])
            base["route"] = [_backend(b, w) for b, w in zip(live, ws, strict=True)]
    matches = [_match(m) for m in rule.matches]
    if not matches:
        return [IstioHTTPRoute(**base)]
    return [IstioHTTPRoute(**base, match=[m]) for m in matches]


def _backend(b: GwBackendRef, weight: int) -> HTTPRouteDestination:
    headers: dict[str, HeaderOperations] = {}
    for f in b.filters:
        if f.requestHeaderModifier is not None:
            headers["request"] = _headers(f.requestHeaderModifier)
        if f.responseHeaderModifier is not None:
            headers["response"] = _headers(f.responseHeaderModifier)
    return HTTPRouteDestination(
        destination=_destination(b),
        weight=weight,
        headers=Headers(**headers) if headers else None,
    )


def weights(given: list[int]) -> list[int]:
    """Backend weights as the VirtualService's: Istio gives a single backend 0
    (all traffic); several keep theirs, which Envoy reads as relative. Weights
    above 100 (the Gateway API allows up to 1,000,000) are scaled into 1..100,
    keeping every backend that has weight.

    >>> weights([1]), weights([90, 10]), weights([1000, 3000])
    ([0], [90, 10], [25, 75])
    """
    if len(given) == 1:
        return [0]
    if max(given) <= 100:
        return list(given)
    total = sum(given)
    return [max(1, round(100 * w / total)) for w in given]


def _nonzero(text: str) -> bool:
    return parse_duration(text) > 0


def _precedence(http: IstioHTTPRoute) -> tuple[int, int, int, int, int]:
    """Istio's sortHTTPRoutes key (higher first): exact > prefix > regex, longer
    path, a method, more headers, more query parameters; no match last."""
    if not http.match:
        return (-2, 0, 0, 0, 0)
    m = http.match[0]
    uri = m.uri
    rank, length = -1, 0
    if uri is not None:
        rank = 3 if uri.exact is not None else 2 if uri.prefix is not None else 1
        length = len(uri.exact or uri.prefix or uri.regex or "")
    return (rank, length, int(m.method is not None), len(m.headers), len(m.queryParams))


def parents_of(route: HTTPRoute) -> list[tuple[str, list[str]]]:
    """Where a route attaches: ("mesh", [service]) per Service parent, and
    (gateway name, hostnames or ["*"]) per Gateway parent. A parent's `port`
    does not narrow it: each service of the mesh has one port."""
    out: list[tuple[str, list[str]]] = []
    for p in route.spec.parentRefs:
        if p.is_service:
            out.append(("mesh", [p.name]))
        else:
            out.append((p.name, list(route.spec.hostnames) or ["*"]))
    return out


def to_virtual_services(routes: list[HTTPRoute]) -> list[VirtualService]:
    """What Istio makes of the HTTPRoutes in force (in the order applied: the
    older route's rules first among equals): one VirtualService per parent
    and host, their rules merged and sorted by precedence."""
    merged: dict[tuple[str, str], tuple[list[IstioHTTPRoute], list[str]]] = {}
    for route in routes:
        http = [
            h for pos, rule in enumerate(route.spec.rules) for h in convert_rule(route, pos, rule)
        ]
        for parent, hosts in parents_of(route):
            for host in hosts:
                rules, names = merged.setdefault((parent, host), ([], []))
                rules.extend(http)
                if route.key not in names:
                    names.append(route.key)
    out: list[VirtualService] = []
    for (parent, host), (rules, names) in merged.items():
        rules = sorted(rules, key=_precedence, reverse=True)  # stable: ties keep their order
        out.append(
            VirtualService(
                apiVersion="networking.istio.io/v1",
                kind="VirtualService",
                metadata={
                    "name": names[0].split("/", 1)[1],
                    "annotations": {FROM_ANNOTATION: ",".join(names)},
                },
                spec=VirtualServiceSpec(
                    hosts=[host],
                    gateways=[]
                    if parent == "mesh"
                    else [GATEWAY_NAME if parent == GATEWAY_NAME else parent],
                    http=rules,
                ),
            )
        )
    return out


def origin(vs: VirtualService) -> str:
    """How warnings name a VirtualService: `HTTPRoute/reviews` for one an HTTPRoute made."""
    return vs.metadata.annotations.get(FROM_ANNOTATION) or f"VirtualService/{vs.metadata.name}"


def backend_versions(vss: list[VirtualService], services: dict[str, Any]) -> list[tuple[str, str]]:
    """The (service, version) pairs that routes in force reach as `<service>-<version>`."""
    found: dict[tuple[str, str], None] = {}
    for vs in vss:
        for http in vs.spec.http:
            dests = [d.destination for d in http.route] + [m.destination for m in http.mirrors]
            if http.mirror is not None:
                dests.append(http.mirror)
            for d in dests:
                hit = version_service(d.host.split(".", 1)[0], services)
                if hit is not None and d.host.split(".", 1)[0] not in services:
                    found[hit] = None
    return list(found)


def route_conflicts(resources: list[Resource]) -> list[tuple[Resource, str]]:
    """HTTPRoutes and VirtualServices that route the same host for the same
    proxies. Istio uses only one VirtualService per host for sidecars
    (istioctl analyze IST0109) and which one is not something to learn from:
    meshsim refuses both, naming them. Returns (the later resource, why)."""
    owners: dict[tuple[str, str], Resource] = {}
    out: list[tuple[Resource, str]] = []
    for r in resources:
        if isinstance(r, HTTPRoute):
            attached = [
                (p, h if p != "mesh" else short_host(h)) for p, hs in parents_of(r) for h in hs
            ]
        elif isinstance(r, VirtualService):
            gws = r.spec.gateways or ["mesh"]
            attached = [
                (g.split("/")[-1], short_host(h) if g == "mesh" else h)
                for g in gws
                for h in r.spec.hosts
            ]
        else:
            continue
        for key in attached:
            first = owners.setdefault(key, r)
            if first is not r and isinstance(first, HTTPRoute) != isinstance(r, HTTPRoute):
                parent, host = key
                if parent == "mesh":
                    why = (
                        "Istio would use only one of them for the sidecars (istioctl "
                        "analyze IST0109)"
                    )
                else:
                    why = (
                        f"meshsim's one ingress is both the Istio Gateway and the Gateway "
                        f"API Gateway {parent}, and it does not merge their routes"
                    )
                out.append(
                    (
                        r,
                        f"{r.key} and {first.key} both route host {host!r}; {why}. meshsim "
                        f"refuses rather than pick one: remove one (e.g. remove: [{first.key}])",
                    )
                )
    return out


def raw_conflicts(raws: list[tuple[Any, dict[str, Any]]]) -> list[tuple[Any, str]]:
    """`route_conflicts` of resources as loaded, each with where it was
    written (any token); those that do not parse are left to validation."""
    parsed: list[Resource] = []
    where: dict[int, Any] = {}
    for at, raw in raws:
        try:
            r = parse_resource(raw)
        except (IstioError, TypeError, KeyError):
            continue
        parsed.append(r)
        where[id(r)] = at
    return [(where[id(r)], message) for r, message in route_conflicts(parsed)]


def made_by_httproute(vs: VirtualService) -> bool:
    return FROM_ANNOTATION in vs.metadata.annotations


def gateway_match(match: dict[str, Any] | None) -> dict[str, Any] | None:
    """An Envoy route match with the Gateway API's PathPrefix semantics, as
    Istio compiles it for HTTPRoutes: `/products` matches `/products` and
    `/products/7`, never `/productsx` (Envoy's `path_separated_prefix`)."""
    if match is None or match.get("prefix") in (None, "/"):
        return match
    out = {k: v for k, v in match.items() if k != "prefix"}
    return {"path_separated_prefix": str(match["prefix"]).rstrip("/"), **out}
