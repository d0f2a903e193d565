"""Kubernetes Gateway API HTTPRoute as typed models, read verbatim.

Istio itself turns every HTTPRoute into VirtualServices before generating
Envoy configuration (pilot/pkg/config/kube/gateway/conversion.go): one per
parent and host, the rules of every route attached there merged and sorted by
the Gateway API's match precedence. meshsim does the same (gateway_routes.py),
so an HTTPRoute compiles through the very code a VirtualService does
(translate.py) and `explain` shows what it became.

Parents: a Service (`group: ""`, `kind: Service`): GAMMA, mesh traffic, the
sidecars calling that service; or the Gateway `meshsim-gateway`: the ingress.
Backends: a service of the mesh, or `<service>-<version>`, the Service of one
version as Bookinfo's bookinfo-versions.yaml defines them (`product-v2`).
docs/gateway-api.md lists what is supported.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from meshsim.scenario.istio_base import (
    Resource,
    _duration,
    _Istio,
)
from meshsim.scenario.istio_names import ResourceName

GATEWAY_API = ("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1")
GATEWAY_GROUP = "gateway.networking.k8s.io"
# Where an HTTPRoute-made VirtualService came from ("HTTPRoute/a,HTTPRoute/b"):
# warnings and `explain` name the HTTPRoute, never the VirtualService.
FROM_ANNOTATION = "meshsim.io/from"

# Gateway API's fields per object (gateway-api apis/v1/httproute_types.go,
# shared_types.go): a key meshsim lacks that is one of these is "not supported
# by meshsim"; any other is a typo (see istio._unknown_field).
GATEWAY_API_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(fields.split())
    for name, fields in {
        "GwParentReference": "group kind namespace name sectionName port",
        "GwPathMatch": "type value",
        "GwHeaderMatch": "type name value",
        "GwQueryParamMatch": "type name value",
        "GwRouteMatch": "path headers queryParams method",
        "GwHeader": "name value",
        "GwHeaderFilter": "set add remove",
        "GwPathModifier": "type replaceFullPath replacePrefixMatch",
        "GwURLRewrite": "hostname path",
        "GwRedirect": "scheme hostname path port statusCode",
        "GwBackendObjectReference": "group kind name namespace port",
        "GwFraction": "numerator denominator",
        "GwMirror": "backendRef percent fraction",
        "GwFilter": "type requestHeaderModifier responseHeaderModifier requestMirror "
        "requestRedirect urlRewrite extensionRef cors externalAuth",
        "GwBackendRef": "group kind name namespace port weight filters",
        "GwTimeouts": "request backendRequest",
        "GwRetry": "codes attempts backoff",
        "GwRule": "name matches filters backendRefs timeouts retry sessionPersistence",
        "GwHTTPRouteSpec": "parentRefs hostnames rules",
    }.items()
}

_METHODS = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class GwParentReference(_Istio):
    group: str | None = None
    kind: str | None = None
    # Names are matched by service name, as meshsim reads every host (a
    # service of your own may live in a namespace of its own).
    namespace: str | None = None
    name: ResourceName
    sectionName: str | None = None
    port: int | None = Field(None, ge=1, le=65535)

    @property
    def is_service(self) -> bool:
        """GAMMA: a Service parent (core group, kind Service); else a Gateway."""
        return self.kind == "Service" and (self.group or "") in ("", "core")

    @model_validator(mode="after")
    def _known(self) -> GwParentReference:
        if not self.is_service and (self.kind or "Gateway") != "Gateway":
            raise ValueError(
                f"kind: {self.kind!r} is not supported by meshsim; a parent is a Service "
                '(group: "", kind: Service) or the Gateway meshsim-gateway'
            )
        if not self.is_service and (self.group or GATEWAY_GROUP) != GATEWAY_GROUP:
            raise ValueError(f"group: a Gateway's group is {GATEWAY_GROUP}")
        if self.sectionName not in (None, "http"):
            raise ValueError(
                f"sectionName: {self.sectionName!r}: meshsim's services and its gateway have "
                "one port each, named http"
            )
        return self


class GwPathMatch(_Istio):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"

    @model_validator(mode="after")
    def _absolute(self) -> GwPathMatch:
        if self.type != "RegularExpression" and not self.value.startswith("/"):
            raise ValueError(f"value: {self.value!r} must start with '/'")
        return self


class GwHeaderMatch(_Istio):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: str = Field(min_length=1)
    value: str


class GwQueryParamMatch(GwHeaderMatch):
    pass


class GwRouteMatch(_Istio):
    path: GwPathMatch | None = None
    headers: list[GwHeaderMatch] = Field(default_factory=list)
    queryParams: list[GwQueryParamMatch] = Field(default_factory=list)
    method: _METHODS | None = None


class GwHeader(_Istio):
    name: str = Field(min_length=1)
    value: str


class GwHeaderFilter(_Istio):
    set: list[GwHeader] = Field(default_factory=list)
    add: list[GwHeader] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class GwPathModifier(_Istio):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replaceFullPath: str | None = None
    replacePrefixMatch: str | None = None

    @model_validator(mode="after")
    def _value(self) -> GwPathModifier:
        want = "replaceFullPath" if self.type == "ReplaceFullPath" else "replacePrefixMatch"
        if getattr(self, want) is None:
            raise ValueError(f"{want}: required when type is {self.type}")
        return self


class GwURLRewrite(_Istio):
    hostname: str | None = None
    path: GwPathModifier | None = None


class GwRedirect(_Istio):
    scheme: Literal["http", "https"] | None = None
    hostname: str | None = None
    path: GwPathModifier | None = None
    port: int | None = Field(None, ge=1, le=65535)
    statusCode: Literal[301, 302] = 302


class GwBackendObjectReference(_Istio):
    group: str | None = None
    kind: str | None = None
    name: ResourceName
    namespace: str | None = None
    port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _service(self) -> GwBackendObjectReference:
        if (self.kind or "Service") != "Service" or (self.group or "") not in ("", "core"):
            raise ValueError(f"kind: only a Service can be a backend in meshsim; found {self.kind}")
        if self.port is None:
            raise ValueError("port: required for a Service backend (the Gateway API's rule)")
        return self


class GwFraction(_Istio):
    numerator: int = Field(ge=0)
    denominator: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _at_most_one(self) -> GwFraction:
        if self.numerator > self.denominator:
            raise ValueError("numerator: must not exceed denominator")
        return self


class GwMirror(_Istio):
    backendRef: GwBackendObjectReference
    percent: int | None = Field(None, ge=0, le=100)
    fraction: GwFraction | None = None


_FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestMirror": "requestMirror",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
}


# Filter types the Gateway API has and meshsim does not compile.
_OTHER_FILTERS = ("CORS", "ExtensionRef", "ExternalAuth")


class GwFilter(_Istio):
    type: str

    requestHeaderModifier: GwHeaderFilter | None = None
    responseHeaderModifier: GwHeaderFilter | None = None
    requestMirror: GwMirror | None = None
    requestRedirect: GwRedirect | None = None
    urlRewrite: GwURLRewrite | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        supported = ", ".join(_FILTER_FIELDS)
        if value in _OTHER_FILTERS:
            raise ValueError(f"{value} is not supported by meshsim; it supports {supported}")
        if value not in _FILTER_FIELDS:
            raise ValueError(f"unknown filter type {value!r}; expected one of {supported}")
        return value

    @model_validator(mode="after")
    def _matches_type(self) -> GwFilter:
        want = _FILTER_FIELDS[self.type]
        if getattr(self, want) is None:
            raise ValueError(f"{want}: required when type is {self.type}")
        extra = [f for f in _FILTER_FIELDS.values() if f != want and getattr(self, f) is not None]
        if extra:
            raise ValueError(f"{extra[0]}: set, but type is {self.type}")
        return self


class GwBackendRef(GwBackendObjectReference):
    weight: int = Field(1, ge=0, le=1_000_000)
    filters: list[GwFilter] = Field(default_factory=list)

    @field_validator("filters")
    @classmethod
    def _header_filters_only(cls, value: list[GwFilter]) -> list[GwFilter]:
        for f in value:
            if f.type not in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                raise ValueError(
                    f"type {f.type} on a backendRef is not supported (Istio takes only "
                    "RequestHeaderModifier and ResponseHeaderModifier there)"
                )
        return value


class GwTimeouts(_Istio):
    request: str | None = None
    backendRequest: str | None = None

    _d = field_validator("request", "backendRequest")(_duration)


class GwRetry(_Istio):
    # Gateway API's experimental HTTPRouteRetry (GEP-1731), which Istio honours.
    attempts: int | None = Field(None, ge=0)
    codes: list[int] = Field(default_factory=list)

    @field_validator("codes")
    @classmethod
    def _status(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 400 <= code <= 599:
                raise ValueError(f"{code} is not a status code from 400 to 599")
        return value


class GwRule(_Istio):
    name: str | None = None
    matches: list[GwRouteMatch] = Field(default_factory=list)
    filters: list[GwFilter] = Field(default_factory=list)
    backendRefs: list[GwBackendRef] = Field(default_factory=list)
    timeouts: GwTimeouts | None = None
    retry: GwRetry | None = None

    @model_validator(mode="after")
    def _filters(self) -> GwRule:
        types = [f.type for f in self.filters]
        for t in set(types) - {"RequestMirror"}:
            if types.count(t) > 1:
                raise ValueError(f"filters: {t} is given twice (the Gateway API allows it once)")
        if "RequestRedirect" in types and "URLRewrite" in types:
            raise ValueError("filters: RequestRedirect and URLRewrite exclude each other")
        if "RequestRedirect" in types and self.backendRefs:
            raise ValueError("backendRefs: a rule that redirects sends nothing to a backend")
        return self


class GwHTTPRouteSpec(_Istio):
    parentRefs: list[GwParentReference] = Field(min_length=1)
    hostnames: list[str] = Field(default_factory=list)
    # The Gateway API's default: one rule matching every path, with no backend.
    rules: list[GwRule] = Field(default_factory=lambda: [GwRule()])


class HTTPRoute(Resource):
    kind: Literal["HTTPRoute"]
    spec: GwHTTPRouteSpec


GATEWAY_API_KINDS: dict[str, tuple[type[Resource], tuple[str, ...]]] = {
    "HTTPRoute": (HTTPRoute, GATEWAY_API),
}
