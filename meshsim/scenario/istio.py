"""Istio resources as typed models, read verbatim from scenario files.

Each model forbids unknown keys: a field meshsim does not implement is an
error that names it ("spec.http[0].corsPolicy: not supported by meshsim"),
never silently ignored, and a key Istio has no field for is a typo
("spec.hostt: unknown field 'hostt'; did you mean 'host'?"; the lists are in
`meshsim.scenario.istio_fields`). docs/istio-support.md lists the supported subset.
"""

from __future__ import annotations

import difflib
import re
import warnings
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from meshsim.scenario.gateway_api import GATEWAY_API_FIELDS, GATEWAY_API_KINDS
from meshsim.scenario.gateway_ports import gateway_port_warnings
from meshsim.scenario.istio_base import NETWORKING, Resource, _duration, _Istio
from meshsim.scenario.istio_fields import ISTIO_FIELDS
from meshsim.scenario.istio_jwt import JWT_KINDS
from meshsim.scenario.istio_names import (
    GatewayHost,
    Host,
    SubsetName,
    WildcardHost,
)
from meshsim.scenario.istio_security import SECURITY_KINDS
from meshsim.scenario.words import describe_error, model_at


class StringMatch(_Istio):
    # Istio: an empty match ({}) or regex "*" on a header or query parameter
    # means "present"; `uri` and `method` need one of the three.
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> StringMatch:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) > 1:
            raise ValueError("needs only one of exact, prefix, regex")
        return self

    @property
    def is_presence(self) -> bool:
        return (self.exact, self.prefix, self.regex) == (None, None, None) or self.regex == "*"


class HTTPMatchRequest(_Istio):
    name: str | None = None
    uri: StringMatch | None = None
    method: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    withoutHeaders: dict[str, StringMatch] = Field(default_factory=dict)
    queryParams: dict[str, StringMatch] = Field(default_factory=dict)
    ignoreUriCase: bool = False
    port: int | None = None

    @model_validator(mode="after")
    def _complete(self) -> HTTPMatchRequest:
        for name in ("uri", "method"):
            m = getattr(self, name)
            if m is not None and (m.exact, m.prefix, m.regex) == (None, None, None):
                raise ValueError(f"{name}: needs one of exact, prefix, regex")
        for field in ("headers", "withoutHeaders"):
            for key in getattr(self, field):
                if key != key.lower():
                    raise ValueError(f"{field}: header name {key!r} must be lowercase (Istio)")
        return self


class PortSelector(_Istio):
    number: int


class Destination(_Istio):
    host: Host
    subset: SubsetName | None = None
    port: PortSelector | None = None


class HeaderOperations(_Istio):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(_Istio):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(_Istio):
    destination: Destination
    weight: int = Field(0, ge=0, le=100)
    headers: Headers | None = None


class Percent(_Istio):
    value: float = Field(ge=0, le=100)


class _FaultPart(_Istio):
    percentage: Percent | None = None
    # Deprecated integer form; accepted with a warning (see resource_warnings).
    percent: int | None = Field(None, ge=0, le=100, description="deprecated: use percentage")

    @property
    def share(self) -> float:
        """The percentage 0..100. Istio: `percentage` wins over the deprecated
        `percent`; with neither, no request is affected (0)."""
        if self.percentage is not None:
            return self.percentage.value
        if self.percent is not None:
            return float(self.percent)
        return 0.0


class FaultDelay(_FaultPart):
    fixedDelay: str

    _d = field_validator("fixedDelay")(_duration)


class FaultAbort(_FaultPart):
    httpStatus: int = Field(ge=200, le=599)


class HTTPFaultInjection(_Istio):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


# Envoy's retry conditions for HTTP and gRPC (x-envoy-retry-on / x-envoy-retry-grpc-on);
# Istio passes them through, and any integer is a retriable status code.
RETRY_CONDITIONS = frozenset(
    (
        "5xx gateway-error reset reset-before-request connect-failure envoy-ratelimited "
        "retriable-4xx refused-stream retriable-status-codes retriable-headers "
        "http3-post-connect-failure cancelled deadline-exceeded internal resource-exhausted "
        "unavailable"
    ).split()
)


class HTTPRetry(_Istio):
    # Istio: attempts defaults to 0, which disables retries for the route.
    attempts: int = Field(0, ge=0)
    perTryTimeout: str | None = None
    retryOn: str | None = None
    retryRemoteLocalities: bool | None = None

    _d = field_validator("perTryTimeout")(_duration)

    @field_validator("retryOn")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        for part in (p.strip() for p in (value or "").split(",")):
            if part and not part.isdigit() and part not in RETRY_CONDITIONS:
                known = ", ".join(sorted(RETRY_CONDITIONS))
                raise ValueError(
                    f"unknown retry condition {part!r}; expected a status code or {known}"
                )
        return value


class RegexRewrite(_Istio):
    match: str
    rewrite: str


class HTTPRewrite(_Istio):
    uri: str | None = None
    authority: str | None = None
    uriRegexRewrite: RegexRewrite | None = None


class HTTPMirrorPolicy(_Istio):
    destination: Destination
    percentage: Percent | None = None


class HTTPRedirect(_Istio):
    uri: str | None = None
    authority: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    derivePort: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirectCode: int = Field(301, ge=300, le=399)


class HTTPBody(_Istio):
    string: str


class HTTPDirectResponse(_Istio):
    status: int = Field(ge=200, le=599)
    body: HTTPBody | None = None


class HTTPRoute(_Istio):
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    timeout: str | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrorPercentage: Percent | None = None
    # Deprecated integer form of mirrorPercentage; accepted with a warning.
    mirrorPercent: int | None = Field(None, ge=0, le=100, description="deprecated")
    mirrors: list[HTTPMirrorPolicy] = Field(default_factory=list)
    headers: Headers | None = None
    rewrite: HTTPRewrite | None = None
    redirect: HTTPRedirect | None = None
    directResponse: HTTPDirectResponse | None = None

    _d = field_validator("timeout")(_duration)

    @model_validator(mode="after")
    def _has_route(self) -> HTTPRoute:
        given = [n for n in ("route", "redirect", "directResponse") if getattr(self, n)]
        if not given:
            raise ValueError(
                "route: needs at least one destination (or a redirect or directResponse)"
            )
        if len(given) > 1:
            raise ValueError(f"{given[1]}: {' and '.join(given)} exclude each other")
        return self


class VirtualServiceSpec(_Istio):
    hosts: list[WildcardHost] = Field(min_length=1)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)
    exportTo: list[str] = Field(default_factory=list)


class ConnectionPoolTCP(_Istio):
    maxConnections: int | None = Field(None, ge=1)
    connectTimeout: str | None = None

    _d = field_validator("connectTimeout")(_duration)


class ConnectionPoolHTTP(_Istio):
    http1MaxPendingRequests: int | None = Field(None, ge=1)
    http2MaxRequests: int | None = Field(None, ge=1)
    maxRequestsPerConnection: int | None = Field(None, ge=0)
    maxRetries: int | None = Field(None, ge=0)
    idleTimeout: str | None = None

    _d = field_validator("idleTimeout")(_duration)


class ConnectionPool(_Istio):
    tcp: ConnectionPoolTCP | None = None
    http: ConnectionPoolHTTP | None = None


class OutlierDetection(_Istio):
    # Deprecated: Istio reads it as consecutiveGatewayErrors (502/503/504 only)
    # and then ignores 5xx errors; accepted with a warning.
    consecutiveErrors: int | None = Field(None, ge=0, description="deprecated")
    consecutive5xxErrors: int | None = Field(None, ge=0)
    consecutiveGatewayErrors: int | None = Field(None, ge=0)
    interval: str | None = None
    baseEjectionTime: str | None = None
    maxEjectionPercent: int | None = Field(None, ge=0, le=100)
    minHealthPercent: int | None = Field(None, ge=0, le=100)

    _d = field_validator("interval", "baseEjectionTime")(_duration)


class LoadBalancer(_Istio):
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "UNSPECIFIED", "LEAST_CONN"]


# ClientTLSSettings.mode. SIMPLE and MUTUAL originate TLS with certificates of
# one's own, for servers that speak TLS themselves: the shop's apps speak plain
# HTTP behind their sidecars, so meshsim refuses them (semantic_problems).
TLS_MODES = ("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL")


class ClientTLSSettings(_Istio):
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] = "DISABLE"


class PortTrafficPolicy(_Istio):
    port: PortSelector | None = None
    loadBalancer: LoadBalancer | None = None
    connectionPool: ConnectionPool | None = None
    outlierDetection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(_Istio):
    loadBalancer: LoadBalancer | None = None
    connectionPool: ConnectionPool | None = None
    outlierDetection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    portLevelSettings: list[PortTrafficPolicy] = Field(default_factory=list)


class Subset(_Istio):
    name: SubsetName
    labels: dict[str, str] = Field(default_factory=dict)
    trafficPolicy: TrafficPolicy | None = None


class DestinationRuleSpec(_Istio):
    host: Host
    subsets: list[Subset] = Field(default_factory=list)
    trafficPolicy: TrafficPolicy | None = None
    exportTo: list[str] = Field(default_factory=list)


class GatewayServer(_Istio):
    port: dict[str, Any]
    hosts: list[GatewayHost]


class GatewaySpec(_Istio):
    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[GatewayServer] = Field(default_factory=list)


class VirtualService(Resource):
    kind: Literal["VirtualService"]
    spec: VirtualServiceSpec


class DestinationRule(Resource):
    kind: Literal["DestinationRule"]
    spec: DestinationRuleSpec


class Gateway(Resource):
    kind: Literal["Gateway"]
    spec: GatewaySpec


_KINDS: dict[str, tuple[type[Resource], tuple[str, ...]]] = {
    "VirtualService": (VirtualService, NETWORKING),
    "DestinationRule": (DestinationRule, NETWORKING),
    "Gateway": (Gateway, NETWORKING),
}


def _kinds() -> dict[str, tuple[type[Resource], tuple[str, ...]]]:
    return {**_KINDS, **SECURITY_KINDS, **JWT_KINDS, **GATEWAY_API_KINDS}


class IstioError(ValueError):
    """A resource is not valid or uses what meshsim does not support."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


def _loc(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the key names the place
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_resource(raw: dict[str, Any]) -> Resource:
    """Validate one Istio resource and return its typed model, or raise IstioError."""
    problems = check_resource(raw)
    if problems:
        raise IstioError(problems)
    model, _ = _kinds()[raw["kind"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.model_validate(raw)


def check_resource(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with one Istio resource as (field path, message); empty when valid."""
    if not isinstance(raw, dict):
        return [
            ("", "expected an Istio resource (a mapping with apiVersion, kind, metadata, spec)")
        ]
    kind = raw.get("kind")
    if not isinstance(kind, str):
        return [("kind", f"expected a kind such as VirtualService; found {kind!r}")]
    kinds = _kinds()
    if kind not in kinds:
        known = ", ".join(sorted(kinds))
        return [("kind", f"unknown or unsupported kind {kind!r}; expected one of {known}")]
    model, versions = kinds[kind]
    if raw.get("apiVersion") not in versions:
        return [("apiVersion", f"expected one of {', '.join(versions)} for {kind}")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = model.model_validate(raw)
    except ValidationError as exc:
        return _problems(model, exc.errors(include_url=False))
    return semantic_problems(parsed)


def _problems(model: type[Resource], errors: list[ErrorDetails]) -> list[tuple[str, str]]:
    """Pydantic's errors in meshsim's words. A key the model rejects is a
    real Istio field meshsim lacks, or a typo (see meshsim.scenario.istio_fields)."""
    unknown = {
        tuple(e["loc"]): _unknown_field(model, tuple(e["loc"]))
        for e in errors
        if e["type"] == "extra_forbidden"
    }
    # "hostt: did you mean 'host'?" says enough; "host: required field is missing" goes
    meant = {(*loc[:-1], suggestion) for loc, (_, suggestion) in unknown.items() if suggestion}
    out: list[tuple[str, str]] = []
    for err in errors:
        loc = tuple(err["loc"])
        if loc in unknown:
            out.append((_loc(loc), unknown[loc][0]))
        elif err["type"] == "missing":
            if loc not in meant:
                out.append((_loc(loc), "required field is missing"))
        elif loc[-1:] == ("[key]",) and err["type"] == "int_parsing":  # portLevelMtls
            out.append((_loc(loc), f"{err['input']!r} is not a port; expected a number, e.g. 8080"))
        else:
            out.append((_loc(loc), describe_error(err)))
    return out


def _unknown_field(model: type[Resource], loc: tuple[object, ...]) -> tuple[str, str | None]:
    """The message for a key the model rejects, and the field it was probably meant as."""
    name = str(loc[-1])
    parent = model_at(loc[:-1], root=model)
    mro = parent.__mro__ if parent is not None else ()
    known = {**ISTIO_FIELDS, **GATEWAY_API_FIELDS}
    real = next((known[c.__name__] for c in mro if c.__name__ in known), None)
    if parent is None or real is None or name in real:
        return "not supported by meshsim", None
    camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)
    close = [camel] if camel in real else difflib.get_close_matches(name, sorted(real), n=1)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?", close[0]
    supported = [
        f.alias or n
        for n, f in parent.model_fields.items()
        if not (f.description or "").startswith("deprecated")  # accepted, not suggested
    ]
    expected = ", ".join(supported)
    return f"unknown field {name!r} (not an Istio field here); expected one of {expected}", None


# meshsim's one extension to Istio's YAML: where a VirtualService's `fault` is
# injected. Istio injects it in the caller's sidecar ("caller", the default);
# "destination" moves it into the destination's sidecar, so the caller's
# retries and outlier detection see the failure as real. See docs/istio-support.md.
FAULT_AT_ANNOTATION = "meshsim.io/fault-at"
FAULT_AT_VALUES = ("caller", "destination")


def fault_at(vs: VirtualService) -> str:
    """Where this VirtualService's faults are injected: "caller" or "destination"."""
    return vs.metadata.annotations.get(FAULT_AT_ANNOTATION, "caller")


def semantic_problems(resource: Resource) -> list[tuple[str, str]]:
    """Checks that span fields of a parsed resource, as (field path, message)."""
    out: list[tuple[str, str]] = []
    if isinstance(resource, DestinationRule):
        return _destination_rule_problems(resource)
    if not isinstance(resource, VirtualService):
        return out
    at = resource.metadata.annotations.get(FAULT_AT_ANNOTATION)
    if at is not None and at not in FAULT_AT_VALUES:
        out.append(
            (
                f"metadata.annotations.{FAULT_AT_ANNOTATION}",
                f"{at!r} is not a fault location; expected caller (Istio's default) or destination",
            )
        )
    for i, http in enumerate(resource.spec.http):
        rw = http.rewrite
        if rw is not None and rw.uri is not None and rw.uriRegexRewrite is not None:
            out.append((f"spec.http[{i}].rewrite", "uri and uriRegexRewrite exclude each other"))
        if http.mirror is not None and http.mirrors:
            out.append((f"spec.http[{i}].mirrors", "mirror and mirrors exclude each other"))
        if len(http.route) > 1 and not sum(d.weight for d in http.route):
            out.append(
                (
                    f"spec.http[{i}].route",
                    "every weight is 0: with more than one destination, give each "
                    "its weight, e.g. 90 and 10",
                )
            )
    return out


def _destination_rule_problems(dr: DestinationRule) -> list[tuple[str, str]]:
    """TLS modes meshsim cannot honour, and port-level settings without a port."""
    out: list[tuple[str, str]] = []
    policies = [("spec.trafficPolicy", dr.spec.trafficPolicy)] + [
        (f"spec.subsets[{j}].trafficPolicy", s.trafficPolicy) for j, s in enumerate(dr.spec.subsets)
    ]
    for where, policy in policies:
        if policy is None:
            continue
        levels: list[tuple[str, ClientTLSSettings | None]] = [(where, policy.tls)]
        for k, pls in enumerate(policy.portLevelSettings):
            if pls.port is None:
                out.append((f"{where}.portLevelSettings[{k}].port", "required field is missing"))
            levels.append((f"{where}.portLevelSettings[{k}]", pls.tls))
        for at, tls in levels:
            if tls is not None and tls.mode in ("SIMPLE", "MUTUAL"):
                out.append(
                    (
                        f"{at}.tls.mode",
                        f"{tls.mode} is not supported by meshsim: it originates TLS with "
                        "certificates of your own, for servers that speak TLS themselves, "
                        "and the mesh's apps speak plain HTTP behind their sidecars; use "
                        "ISTIO_MUTUAL (the mesh's mTLS) or DISABLE",
                    )
                )
    return out


def _weights_warning(http: HTTPRoute) -> str | None:
    """Weights that do not add up to 100: relative, as Istio reads them since 1.15."""
    total = sum(d.weight for d in http.route)
    if len(http.route) < 2 or total in (0, 100):
        return None
    weights = " + ".join(str(d.weight) for d in http.route)
    shares = " / ".join(f"{100 * d.weight / total:.4g}%" for d in http.route)
    return (
        f"weights add up to {total} ({weights}); Istio reads them as relative, "
        f"so traffic splits {shares}"
    )


def _deprecated_warnings(resource: Resource) -> list[tuple[str, str]]:
    """Deprecated fields istio/api still carries, accepted as istioctl does."""
    out: list[tuple[str, str]] = []
    if isinstance(resource, VirtualService):
        for i, http in enumerate(resource.spec.http):
            if http.mirrorPercent is not None:
                instead = (
                    "; mirrorPercentage is set too and wins"
                    if http.mirrorPercentage is not None
                    else f"; write mirrorPercentage: {{value: {http.mirrorPercent}}}"
                )
                out.append((f"spec.http[{i}].mirrorPercent", "deprecated in Istio" + instead))
    if isinstance(resource, DestinationRule):
        policies = [("spec.trafficPolicy", resource.spec.trafficPolicy)] + [
            (f"spec.subsets[{j}].trafficPolicy", s.trafficPolicy)
            for j, s in enumerate(resource.spec.subsets)
        ]
        for where, policy in policies:
            od = policy.outlierDetection if policy else None
            if od is not None and od.consecutiveErrors is not None:
                out.append(
                    (
                        f"{where}.outlierDetection.consecutiveErrors",
                        "deprecated in Istio, which reads it as consecutiveGatewayErrors "
                        "(only 502, 503, 504 count; other 5xx are ignored); write "
                        f"consecutiveGatewayErrors: {od.consecutiveErrors} or consecutive5xxErrors",
                    )
                )
    return out


def resource_warnings(resource: Resource) -> list[tuple[str, str]]:
    """What is valid but probably not what the author meant, as (field path, message).

    Shown to the user as scenario warnings; never an error.
    """
    out = _deprecated_warnings(resource)
    if isinstance(resource, Gateway):
        return out + gateway_port_warnings(resource.spec.servers)
    if not isinstance(resource, VirtualService):
        return out
    has_fault = False
    for i, http in enumerate(resource.spec.http):
        base = f"spec.http[{i}]"
        weights = _weights_warning(http)
        if weights:
            out.append((f"{base}.route", weights))
        fault = http.fault
        parts = [("delay", fault.delay), ("abort", fault.abort)] if fault else []
        for name, part in parts:
            if part is None:
                continue
            has_fault = True
            where = f"{base}.fault.{name}"
            if part.percent is not None:
                extra = (
                    " (current Istio has no `percent` on abort at all)" if name == "abort" else ""
                )
                out.append(
                    (
                        f"{where}.percent",
                        f"deprecated in Istio{extra}; write percentage: {{value: {part.percent}}}",
                    )
                )
            elif part.percentage is None:
                out.append(
                    (
                        where,
                        "no percentage: Istio injects this fault into no request; "
                        "add percentage: {value: 100} to affect every request",
                    )
                )
        r = http.retries
        if r is not None and r.attempts == 0 and (r.perTryTimeout or r.retryOn):
            out.append(
                (
                    f"{base}.retries.attempts",
                    "is 0 (its default): Istio disables retries on this route, "
                    "so perTryTimeout and retryOn have no effect",
                )
            )
    if fault_at(resource) == "destination" and not has_fault:
        out.append(
            (
                f"metadata.annotations.{FAULT_AT_ANNOTATION}",
                "has no effect: no http route of this VirtualService has a fault",
            )
        )
    return out


def short_host(host: str) -> str:
    """`product.default.svc.cluster.local` and `product` both name service `product`."""
    return host.split(".", 1)[0]
