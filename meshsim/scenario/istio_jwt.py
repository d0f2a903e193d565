"""Istio's RequestAuthentication as a typed model (security.istio.io).

A RequestAuthentication says which JWTs a workload accepts: a request that
carries a token must carry a valid one from a listed issuer (else 401), a
request without one passes, and AuthorizationPolicy decides what it may do
(`requestPrincipals`, `request.auth.claims[...]`). It compiles to Envoy's
jwt_authn filter in `meshsim.control.jwt_authn`; keys come from the run's
local issuer (`meshsim.control.issuer`) unless the rule inlines `jwks`.

Like the other models it forbids unknown keys: `targetRef` and `targetRefs`
(Gateway API attachment) are Istio fields meshsim does not implement and are
refused by name.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from meshsim.scenario.istio_base import SECURITY, Resource, _duration, _Istio
from meshsim.scenario.istio_security import WorkloadSelector, _Namespaced

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a header name; use letters, digits and '-'")
    return value


class JWTHeader(_Istio):
    name: str
    prefix: str = ""

    _n = field_validator("name")(_header_name)


class ClaimToHeader(_Istio):
    header: str
    claim: str = Field(min_length=1)

    _h = field_validator("header")(_header_name)


class JWTRule(_Istio):
    issuer: str = Field(min_length=1)
    audiences: list[str] = Field(default_factory=list)
    jwksUri: str | None = None
    jwks: str | None = None
    fromHeaders: list[JWTHeader] = Field(default_factory=list)
    fromParams: list[str] = Field(default_factory=list)
    fromCookies: list[str] = Field(default_factory=list)
    outputPayloadToHeader: str | None = None
    outputClaimToHeaders: list[ClaimToHeader] = Field(default_factory=list)
    forwardOriginalToken: bool = False
    # How long istiod waits for the jwksUri; meshsim fetches nothing, so it is only checked.
    timeout: str | None = None

    _t = field_validator("timeout")(_duration)

    @field_validator("outputPayloadToHeader")
    @classmethod
    def _payload_header(cls, value: str | None) -> str | None:
        return None if value is None else _header_name(value)

    @field_validator("jwks")
    @classmethod
    def _jwks_shape(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"jwks is not JSON: {exc}") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("keys"), list):
            raise ValueError('jwks must be a JSON Web Key Set: {"keys": [...]}')
        return value

    @field_validator("jwksUri")
    @classmethod
    def _uri_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://\S+$", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> JWTRule:
        if self.jwks is not None and self.jwksUri is not None:
            raise ValueError("give jwksUri or jwks, not both")
        return self


class RequestAuthenticationSpec(_Istio):
    selector: WorkloadSelector | None = None
    jwtRules: list[JWTRule] = Field(default_factory=list)

    @property
    def has_selector(self) -> bool:
        return bool(self.selector and self.selector.matchLabels)


class RequestAuthentication(_Namespaced):
    kind: Literal["RequestAuthentication"]
    spec: RequestAuthenticationSpec = Field(default_factory=RequestAuthenticationSpec)


JWT_KINDS: dict[str, tuple[type[Resource], tuple[str, ...]]] = {
    "RequestAuthentication": (RequestAuthentication, SECURITY),
}
