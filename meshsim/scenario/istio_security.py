"""Istio's security resources as typed models: PeerAuthentication and AuthorizationPolicy.

Like the networking models in `meshsim.scenario.istio`, every model forbids
unknown keys, so a field meshsim does not implement is an error that names it.
What each field means once compiled is in `meshsim.control.security` and
docs/security.md.

Both kinds are namespaced in Istio. meshsim keys them `Kind/name` in the
default namespace and `Kind/namespace/name` elsewhere, so Istio's habit of
naming both the mesh-wide policy (in `istio-system`) and a namespace policy
`default` works: `remove: [PeerAuthentication/istio-system/default]`.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from meshsim.scenario.istio_base import SECURITY, Resource, _Istio
from meshsim.scenario.istio_fields import ISTIO_CONDITION_KEYS

MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]
Action = Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"]

# `when` keys meshsim compiles (Istio has more: see docs/security.md).
WHEN_HEADER = re.compile(r"^request\.headers\[([^\[\]]+)\]$")
WHEN_CLAIMS = re.compile(r"^request\.auth\.claims(\[[^\[\]]+\])+$")  # nested: [a][b]
WHEN_KEYS = (
    "request.headers[<name>]",
    "request.auth.claims[<name>]",
    "source.principal",
    "source.namespace",
    "destination.port",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
)

_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def _is_istio_condition(key: str) -> bool:
    """Whether Istio knows `key` as a `when` condition (ISTIO_CONDITION_KEYS)."""
    for known in ISTIO_CONDITION_KEYS:
        stem = known.split("<", 1)[0]
        if key == known or ("<" in known and key.startswith(stem) and len(key) > len(stem)):
            return True
    return False


def check_wildcard(value: str) -> str:
    """Istio's string wildcards: exact, `prefix*`, `*suffix` or `*` alone."""
    if not value:
        raise ValueError("must not be empty")
    if "*" in value[1:-1] or value.count("*") > 1 and value != "*":
        raise ValueError(
            f"{value!r}: '*' is supported only at the start or the end of a value "
            "(prefix*, *suffix or * alone)"
        )
    return value


def _wildcards(values: list[str]) -> list[str]:
    return [check_wildcard(v) for v in values]


def _ports(values: list[str]) -> list[str]:
    for v in values:
        if not v.isdigit() or not 1 <= int(v) <= 65535:
            raise ValueError(f"{v!r} is not a port; expected a number from 1 to 65535, e.g. '80'")
    return values


class WorkloadSelector(_Istio):
    matchLabels: dict[str, str] = Field(default_factory=dict)


# ------------------------------------------------------------ PeerAuthentication


class MutualTLS(_Istio):
    mode: MtlsMode = "UNSET"


class PeerAuthenticationSpec(_Istio):
    selector: WorkloadSelector | None = None
    mtls: MutualTLS | None = None
    portLevelMtls: dict[int, MutualTLS] = Field(default_factory=dict)

    @field_validator("portLevelMtls")
    @classmethod
    def _port_keys(cls, value: dict[int, MutualTLS]) -> dict[int, MutualTLS]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"{port} is not a port; expected a number from 1 to 65535")
        return value

    @model_validator(mode="after")
    def _port_level_needs_selector(self) -> PeerAuthenticationSpec:
        if self.portLevelMtls and not (self.selector and self.selector.matchLabels):
            raise ValueError(
                "portLevelMtls needs a workload selector (selector.matchLabels), as in Istio"
            )
        return self

    @property
    def has_selector(self) -> bool:
        return bool(self.selector and self.selector.matchLabels)


class _Namespaced(Resource):
    @property
    def key(self) -> str:
        ns = self.metadata.namespace
        if ns == "default":
            return f"{self.kind}/{self.metadata.name}"
        return f"{self.kind}/{ns}/{self.metadata.name}"


class PeerAuthentication(_Namespaced):
    kind: Literal["PeerAuthentication"]
    spec: PeerAuthenticationSpec = Field(default_factory=PeerAuthenticationSpec)


# ----------------------------------------------------------- AuthorizationPolicy


class Source(_Istio):
    principals: list[str] = Field(default_factory=list)
    notPrincipals: list[str] = Field(default_factory=list)
    # `<iss>/<sub>` of a validated JWT (RequestAuthentication; meshsim.control.jwt_rbac)
    requestPrincipals: list[str] = Field(default_factory=list)
    notRequestPrincipals: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    notNamespaces: list[str] = Field(default_factory=list)

    _w = field_validator(
        "principals",
        "notPrincipals",
        "requestPrincipals",
        "notRequestPrincipals",
        "namespaces",
        "notNamespaces",
    )(_wildcards)

    @model_validator(mode="after")
    def _not_empty(self) -> Source:
        if not any(
            (
                self.principals,
                self.notPrincipals,
                self.requestPrincipals,
                self.notRequestPrincipals,
                self.namespaces,
                self.notNamespaces,
            )
        ):
            raise ValueError("a source must set at least one field (Istio rejects an empty one)")
        return self


class Operation(_Istio):
    methods: list[str] = Field(default_factory=list)
    notMethods: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    notPaths: list[str] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    notPorts: list[str] = Field(default_factory=list)

    _w = field_validator("methods", "notMethods", "paths", "notPaths")(_wildcards)

    @field_validator("ports", "notPorts", mode="before")
    @classmethod
    def _port_values(cls, value: Any) -> Any:
        # Istio writes ports as strings ("80"); a YAML number is taken as the same port.
        if isinstance(value, list):
            return _ports([str(p) for p in value])
        return value

    @field_validator("paths", "notPaths")
    @classmethod
    def _path_shape(cls, value: list[str]) -> list[str]:
        for p in value:
            if not (p.startswith("/") or p.startswith("*")):
                raise ValueError(f"{p!r} is not a path; a path starts with '/' (or '*')")
        return value

    @field_validator("methods", "notMethods")
    @classmethod
    def _method_shape(cls, value: list[str]) -> list[str]:
        for m in value:
            if "*" not in m and m not in _HTTP_METHODS:
                raise ValueError(
                    f"{m!r} is not an HTTP method; expected one of {', '.join(_HTTP_METHODS)}"
                )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Operation:
        if not any(
            (self.methods, self.notMethods, self.paths, self.notPaths, self.ports, self.notPorts)
        ):
            raise ValueError(
                "an operation must set at least one field (Istio rejects an empty one)"
            )
        return self


class RuleFrom(_Istio):
    source: Source


class RuleTo(_Istio):
    operation: Operation


class Condition(_Istio):
    key: str
    values: list[str] = Field(default_factory=list)
    notValues: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _known_key(cls, key: str) -> str:
        if key in WHEN_KEYS[2:] or WHEN_HEADER.match(key) or WHEN_CLAIMS.match(key):
            return key
        supported = ", ".join(WHEN_KEYS)
        if _is_istio_condition(key):
            raise ValueError(
                f"when key {key!r} is not supported by meshsim; supported: {supported}"
            )
        stems = {k.split("<", 1)[0].rstrip("[."): k for k in ISTIO_CONDITION_KEYS}
        close = difflib.get_close_matches(key.split("[", 1)[0], list(stems), n=1)
        hint = f"did you mean {stems[close[0]]!r}?" if close else f"meshsim supports {supported}"
        raise ValueError(f"unknown when key {key!r} (not an Istio condition); {hint}")

    @model_validator(mode="after")
    def _values(self) -> Condition:
        if not self.values and not self.notValues:
            raise ValueError("a condition needs values or notValues")
        for v in (*self.values, *self.notValues):
            check_wildcard(v)
        if self.key == "destination.port":
            _ports([*self.values, *self.notValues])
        return self


class Rule(_Istio):
    from_: list[RuleFrom] = Field(default_factory=list, alias="from")
    to: list[RuleTo] = Field(default_factory=list)
    when: list[Condition] = Field(default_factory=list)


class AuthorizationPolicySpec(_Istio):
    selector: WorkloadSelector | None = None
    action: Action = "ALLOW"
    rules: list[Rule] = Field(default_factory=list)
    # Accepted only so that CUSTOM gets the message below rather than "provider: not supported".
    provider: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _no_custom(self) -> AuthorizationPolicySpec:
        if self.action == "CUSTOM" or self.provider is not None:
            raise ValueError(
                "action CUSTOM (an external authorizer through ext_authz) is not supported "
                "by meshsim; use ALLOW, DENY or AUDIT"
            )
        return self

    @property
    def has_selector(self) -> bool:
        return bool(self.selector and self.selector.matchLabels)


class AuthorizationPolicy(_Namespaced):
    kind: Literal["AuthorizationPolicy"]
    spec: AuthorizationPolicySpec = Field(default_factory=AuthorizationPolicySpec)


SECURITY_KINDS: dict[str, tuple[type[Resource], tuple[str, ...]]] = {
    "PeerAuthentication": (PeerAuthentication, SECURITY),
    "AuthorizationPolicy": (AuthorizationPolicy, SECURITY),
}
