"""RequestAuthentication → Envoy's jwt_authn HTTP filter. Pure: policies in, dicts out.

Istio's semantics, as Istio compiles them:

- the RequestAuthentications that select a workload (the root namespace
  without selector: every workload, the ingress gateway too; otherwise the
  policy's namespace, narrowed by its selector) become one jwt_authn filter
  on its inbound HTTP connection manager (the gateway's: its listener),
  before the RBAC filters, with one provider per `jwtRules` entry;
- the requirement is "any provider, or no token at all": a request without a
  token passes (authorization then judges it, e.g. 403 where a policy needs
  a principal), one with a token that no provider accepts (bad signature,
  expired, an issuer none names, a wrong audience) gets 401;
- a valid token's payload goes into the request's dynamic metadata
  (`envoy.filters.http.jwt_authn`, key `payload`), where the RBAC rules of
  `requestPrincipals` and `request.auth.claims[...]` read it
  (`meshsim.control.jwt_rbac`);
- the token is removed before the request reaches the app unless
  `forwardOriginalToken` (Istio's default);
- keys: a rule's inline `jwks` as given; otherwise (`jwksUri`, or neither,
  which Istio resolves by OpenID discovery) the run's local issuer's JWKS,
  since a meshsim mesh fetches nothing (`meshsim.control.issuer`).

Adding or removing a RequestAuthentication changes the listener's filters,
as in Istio: Envoy drains the old filter chain gracefully.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from meshsim.control.jwt_rbac import JWT_FILTER, PAYLOAD_KEY
from meshsim.control.security import Workload
from meshsim.scenario.istio_jwt import JWTRule, RequestAuthentication

if TYPE_CHECKING:
    from meshsim.control.state import PolicyState

T_JWT_AUTHN = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
ROOT_NAMESPACE = "istio-system"

# Used when the compile has no run (explain, validate, tests): a real public
# key whose private half was thrown away, so that Envoy accepts the
# configuration and no token validates against it.
PLACEHOLDER_JWKS = (
    '{"keys":[{"alg":"RS256","e":"AQAB","key_ops":["verify"],'
    '"kid":"pSAiZAeQUMLK1ejrrppUPGrHuo3ucsqxNSBdqGBvasQ","kty":"RSA","n":"r-07RicQAXj1z9DoW'
    "nv88KIbCSrCgb6gb8Rf8G20k6_qHRmkuII2hUNFVChgz-0DxU4IzBj2hxehneRUB5-tcTp7RCSTwDm0wiV3rkFx"
    "98QCna0Y_gJfJPbrzoOIywcnZeOA2lzZ2Whg1xxfvur_z49pPwebCS38XkYuRmryKdp9FInFqLyWuUreIe_V5XL"
    "YQXQa7IVTEd0iV--uPjl7zTqdgZkhdOecfG7kU5l1se4bHBIkm1f3qnKiSSfTGT5bUjNY95B3QeZEh2hAq2OG3Z"
    'AMUoNJfwZ0A7cmvSKD_WOuryh7jy_pUF0WaIzQZ_wv-Uu_ZIYWe_a88g7z4jmWUQ","use":"sig"}]}'
)


def request_authentications(state: PolicyState) -> list[RequestAuthentication]:
    """In force, in the order first applied."""
    return [r for r in state.resources.values() if isinstance(r, RequestAuthentication)]


def issuers(resources: list[RequestAuthentication]) -> list[str]:
    """Every issuer the resources name, in order, once each."""
    out: list[str] = []
    for ra in resources:
        for rule in ra.spec.jwtRules:
            if rule.issuer not in out:
                out.append(rule.issuer)
    return out


def applies_to(ra: RequestAuthentication, workload: Workload) -> bool:
    """Istio's scope, as for AuthorizationPolicy: root namespace without a
    selector → every workload; otherwise its namespace, narrowed by its selector."""
    ns = ra.metadata.namespace
    selector = ra.spec.selector.matchLabels if ra.spec.selector else {}
    if ns == ROOT_NAMESPACE and not selector:
        return True
    if ns != workload.namespace:
        return False
    return all(workload.labels.get(k) == v for k, v in selector.items())


def provider_name(ra: RequestAuthentication, index: int) -> str:
    return f"ns[{ra.metadata.namespace}]-requestauthentication[{ra.metadata.name}]-rule[{index}]"


def provider(rule: JWTRule, local_jwks: str) -> dict[str, Any]:
    """One `jwtRules` entry as an Envoy JwtProvider."""
    out: dict[str, Any] = {
        "issuer": rule.issuer,
        "local_jwks": {"inline_string": rule.jwks if rule.jwks is not None else local_jwks},
        "forward": rule.forwardOriginalToken,
        "payload_in_metadata": PAYLOAD_KEY,
    }
    if rule.audiences:
        out["audiences"] = list(rule.audiences)
    # Without locations Envoy looks where Istio does: Authorization: Bearer, ?access_token=.
    if rule.fromHeaders:
        out["from_headers"] = [
            {"name": h.name, **({"value_prefix": h.prefix} if h.prefix else {})}
            for h in rule.fromHeaders
        ]
    if rule.fromParams:
        out["from_params"] = list(rule.fromParams)
    if rule.fromCookies:
        out["from_cookies"] = list(rule.fromCookies)
    if rule.outputPayloadToHeader:
        out["forward_payload_header"] = rule.outputPayloadToHeader
    if rule.outputClaimToHeaders:
        out["claim_to_headers"] = [
            {"header_name": c.header, "claim_name": c.claim} for c in rule.outputClaimToHeaders
        ]
    return out


def jwt_authn_filter(
    resources: list[RequestAuthentication], local_jwks: str | None
) -> dict[str, Any] | None:
    """The jwt_authn filter for the RequestAuthentications of one workload, or
    None when none has a rule (Istio adds no filter then)."""
    jwks = local_jwks or PLACEHOLDER_JWKS
    providers = {
        provider_name(ra, i): provider(rule, jwks)
        for ra in resources
        for i, rule in enumerate(ra.spec.jwtRules)
    }
    if not providers:
        return None
    requirements: list[dict[str, Any]] = [{"provider_name": name} for name in providers]
    requirements.append({"allow_missing": {}})
    return {
        "name": JWT_FILTER,
        "typed_config": {
            "@type": T_JWT_AUTHN,
            "providers": providers,
            "rules": [
                {
                    "match": {"prefix": "/"},
                    "requires": {"requires_any": {"requirements": requirements}},
                }
            ],
            # As Istio: a CORS preflight carries no token and must not be refused for it.
            "bypass_cors_preflight": True,
        },
    }


def with_jwt(filters: list[dict[str, Any]], jwt_filter: dict[str, Any]) -> list[dict[str, Any]]:
    """HTTP filters with jwt_authn before the first RBAC filter (authentication
    before authorization), else before the router, which is last."""
    at = next(
        (
            i
            for i, f in enumerate(filters)
            if str(f.get("name", "")).startswith("envoy.filters.http.rbac")
        ),
        max(len(filters) - 1, 0),
    )
    return filters[:at] + [copy.deepcopy(jwt_filter)] + filters[at:]


def jwt_warnings(resources: list[RequestAuthentication]) -> list[str]:
    """What the run's RequestAuthentications do differently from a cluster's."""
    out = []
    for ra in resources:
        for i, rule in enumerate(ra.spec.jwtRules):
            if rule.jwks is None:
                where = f"jwksUri {rule.jwksUri}" if rule.jwksUri else "OpenID discovery"
                out.append(
                    f"{ra.key}: jwtRules[{i}]: meshsim fetches no keys ({where}); the run's "
                    f"local issuer signs for {rule.issuer} (`meshsim token --iss "
                    f"{rule.issuer} --sub NAME`, or a cohort's jwt)"
                )
    return out
