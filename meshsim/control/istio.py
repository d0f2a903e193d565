"""Istio resources as typed models, read verbatim from scenario files.

Each model forbids unknown keys: a field meshsim does not implement is an
error that names it ("spec.http[0].corsPolicy: not supported by meshsim"),
never silently ignored. docs/istio-support.md lists the supported subset.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meshsim.scenario.model import parse_duration

NETWORKING = (
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
)
SECURITY = ("security.istio.io/v1", "security.istio.io/v1beta1")


class _Istio(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class StringMatch(_Istio):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> StringMatch:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("needs exactly one of exact, prefix, regex")
        return self


class HTTPMatchRequest(_Istio):
    name: str | None = None
    uri: StringMatch | None = None
    method: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    withoutHeaders: dict[str, StringMatch] = Field(default_factory=dict)
    queryParams: dict[str, StringMatch] = Field(default_factory=dict)
    ignoreUriCase: bool = False
    port: int | None = None


class PortSelector(_Istio):
    number: int


class Destination(_Istio):
    host: str
    subset: str | None = None
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
    percent: int | None = Field(None, ge=0, le=100, description="deprecated: use percentage")

    @model_validator(mode="after")
    def _deprecated(self) -> _FaultPart:
        if self.percent is not None:
            warnings.warn(
                "fault 'percent' is deprecated in Istio; use 'percentage: {value: N}'",
                UserWarning,
                stacklevel=2,
            )
        return self

    @property
    def share(self) -> float:
        """The percentage 0..100; Istio's default when absent is 100."""
        if self.percentage is not None:
            return self.percentage.value
        if self.percent is not None:
            return float(self.percent)
        return 100.0


class FaultDelay(_FaultPart):
    fixedDelay: str

    _d = field_validator("fixedDelay")(_duration)


class FaultAbort(_FaultPart):
    httpStatus: int = Field(ge=200, le=599)


class HTTPFaultInjection(_Istio):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPRetry(_Istio):
    attempts: int = Field(ge=0)
    perTryTimeout: str | None = None
    retryOn: str | None = None
    retryRemoteLocalities: bool | None = None

    _d = field_validator("perTryTimeout")(_duration)


class HTTPRoute(_Istio):
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    timeout: str | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrorPercentage: Percent | None = None
    headers: Headers | None = None

    _d = field_validator("timeout")(_duration)

    @model_validator(mode="after")
    def _has_route(self) -> HTTPRoute:
        if not self.route:
            raise ValueError(
                "route: needs at least one destination (redirect/direct response "
                "are not supported by meshsim)"
            )
        return self


class VirtualServiceSpec(_Istio):
    hosts: list[str] = Field(min_length=1)
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


class ConnectionPool(_Istio):
    tcp: ConnectionPoolTCP | None = None
    http: ConnectionPoolHTTP | None = None


class OutlierDetection(_Istio):
    consecutive5xxErrors: int | None = Field(None, ge=0)
    consecutiveGatewayErrors: int | None = Field(None, ge=0)
    interval: str | None = None
    baseEjectionTime: str | None = None
    maxEjectionPercent: int | None = Field(None, ge=0, le=100)
    minHealthPercent: int | None = Field(None, ge=0, le=100)

    _d = field_validator("interval", "baseEjectionTime")(_duration)


class LoadBalancer(_Istio):
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "UNSPECIFIED", "LEAST_CONN"]


class TrafficPolicy(_Istio):
    loadBalancer: LoadBalancer | None = None
    connectionPool: ConnectionPool | None = None
    outlierDetection: OutlierDetection | None = None


class Subset(_Istio):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    trafficPolicy: TrafficPolicy | None = None


class DestinationRuleSpec(_Istio):
    host: str
    subsets: list[Subset] = Field(default_factory=list)
    trafficPolicy: TrafficPolicy | None = None
    exportTo: list[str] = Field(default_factory=list)


class GatewayServer(_Istio):
    port: dict[str, Any]
    hosts: list[str]


class GatewaySpec(_Istio):
    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[GatewayServer] = Field(default_factory=list)


class Metadata(BaseModel):
    # Kubernetes metadata: labels/annotations are accepted and not interpreted.
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    apiVersion: str
    kind: str
    metadata: Metadata
    spec: Any

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.metadata.name}"


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
# Kinds Istio has that a later meshsim release will compile; rejected by name now.
_PLANNED = {"PeerAuthentication", "AuthorizationPolicy"}


class IstioError(ValueError):
    """A resource is not valid or uses what meshsim does not support."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def parse_resource(raw: dict[str, Any]) -> Resource:
    """Validate one Istio resource and return its typed model, or raise IstioError."""
    problems = check_resource(raw)
    if problems:
        raise IstioError(problems)
    model, _ = _KINDS[raw["kind"]]
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
    if kind in _PLANNED:
        return [("kind", f"{kind} is not supported by this meshsim release yet")]
    if kind not in _KINDS:
        known = ", ".join(sorted(_KINDS))
        return [("kind", f"unknown or unsupported kind {kind!r}; expected one of {known}")]
    model, versions = _KINDS[kind]
    if raw.get("apiVersion") not in versions:
        return [("apiVersion", f"expected one of {', '.join(versions)} for {kind}")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.model_validate(raw)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            path = _loc(tuple(err["loc"]))
            if err["type"] == "extra_forbidden":
                out.append((path, "not supported by meshsim"))
            else:
                msg = err["msg"].removeprefix("Value error, ")
                out.append((path, msg))
        return out
    return []


def short_host(host: str) -> str:
    """`product.default.svc.cluster.local` and `product` both name service `product`."""
    return host.split(".", 1)[0]
