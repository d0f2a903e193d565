"""RequestAuthentication compiled to jwt_authn, and JWT attributes to RBAC (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshsim.control.jwt_authn import JWT_FILTER, PLACEHOLDER_JWKS, T_JWT_AUTHN
from meshsim.control.jwt_rbac import request_principal_id
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.scenario.istio import check_resource
from tests.control.test_security import PLAN, ap, compiled, inbound

ISS = "testing@secure.istio.io"


def ra(spec: dict[str, Any], name: str = "jwt", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


PRODUCT_ONLY = {"selector": {"matchLabels": {"app": "product"}}}


def _http_filters(listener: dict[str, Any]) -> list[list[str]]:
    return [
        [f["name"] for f in chain["filters"][0]["typed_config"]["http_filters"]]
        for chain in listener["filter_chains"]
        if chain["filters"][0]["typed_config"].get("http_filters")
    ]


def _jwt(listener: dict[str, Any]) -> dict[str, Any]:
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    found = [f for f in hcm["http_filters"] if f["name"] == JWT_FILTER]
    assert len(found) == 1
    config: dict[str, Any] = found[0]["typed_config"]
    return config


def test_selected_workloads_get_jwt_authn_before_rbac_on_every_inbound_chain() -> None:
    cfg = compiled(ra({**PRODUCT_ONLY, "jwtRules": [{"issuer": ISS}]}))
    for chains in _http_filters(inbound(cfg["product-v1-0"])):
        assert chains[0] == JWT_FILTER and chains[1].startswith("envoy.filters.http.rbac")
    for name in ("order-v1-0", "istio-ingressgateway"):
        text = json.dumps([lst for lst in cfg[name].listeners])
        assert JWT_FILTER not in text, name


def test_root_namespace_without_selector_is_every_workload_and_the_gateway() -> None:
    cfg = compiled(ra({"jwtRules": [{"issuer": ISS}]}, namespace="istio-system"))
    for name in ("order-v1-0", "product-v2-0", "istio-ingressgateway"):
        assert JWT_FILTER in json.dumps(cfg[name].listeners), name


def test_provider_fields_as_istio_sets_them() -> None:
    rule = {
        "issuer": ISS,
        "audiences": ["shop"],
        "fromHeaders": [{"name": "x-jwt-assertion", "prefix": "Bearer "}, {"name": "x-raw"}],
        "fromParams": ["my_token"],
        "fromCookies": ["session"],
        "outputPayloadToHeader": "x-jwt-payload",
        "outputClaimToHeaders": [{"header": "x-jwt-sub", "claim": "sub"}],
        "forwardOriginalToken": True,
    }
    cfg = _jwt(inbound(compiled(ra({**PRODUCT_ONLY, "jwtRules": [rule]}))["product-v1-0"]))
    assert cfg["@type"] == T_JWT_AUTHN and cfg["bypass_cors_preflight"] is True
    (name, provider), = cfg["providers"].items()  # fmt: skip
    assert name == "ns[default]-requestauthentication[jwt]-rule[0]"
    assert provider["issuer"] == ISS and provider["audiences"] == ["shop"]
    assert provider["from_headers"] == [
        {"name": "x-jwt-assertion", "value_prefix": "Bearer "},
        {"name": "x-raw"},
    ]
    assert provider["from_params"] == ["my_token"] and provider["from_cookies"] == ["session"]
    assert provider["forward"] is True
    assert provider["forward_payload_header"] == "x-jwt-payload"
    assert provider["claim_to_headers"] == [{"header_name": "x-jwt-sub", "claim_name": "sub"}]
    # No run here: the placeholder keys, which validate no token.
    assert provider["local_jwks"] == {"inline_string": PLACEHOLDER_JWKS}
    assert cfg["rules"] == [
        {
            "match": {"prefix": "/"},
            "requires": {
                "requires_any": {"requirements": [{"provider_name": name}, {"allow_missing": {}}]}
            },
        }
    ]


def test_keys_are_the_run_issuers_unless_the_rule_inlines_jwks() -> None:
    own = json.dumps({"keys": [{"kty": "RSA", "e": "AQAB", "n": "xyz"}]})
    state = PolicyState.initial()
    state.local_jwks = '{"keys":[]}'
    from meshsim.scenario.istio import parse_resource

    state.apply(
        [
            parse_resource(
                ra(
                    {
                        **PRODUCT_ONLY,
                        "jwtRules": [
                            {"issuer": ISS, "jwksUri": "https://example.com/jwks.json"},
                            {"issuer": "own", "jwks": own},
                        ],
                    }
                )  # fmt: skip
            )
        ]
    )
    from meshsim.control.xds import Paths

    cfg = compile_mesh(PLAN, state, Paths("/tmp/x"))
    providers = list(_jwt(inbound(cfg["product-v1-0"]))["providers"].values())
    assert providers[0]["local_jwks"]["inline_string"] == '{"keys":[]}'
    assert providers[0]["forward"] is False  # Istio strips the token by default
    assert providers[1]["local_jwks"]["inline_string"] == own
    assert any("fetches no keys (jwksUri https://example.com/jwks.json)" in w
               for w in cfg["product-v1-0"].warnings)  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"targetRef": {"kind": "Gateway", "name": "g"}}, "spec.targetRef", "not supported"),
        ({"jwtRules": [{"issuer": ""}]}, "spec.jwtRules[0].issuer", "must not be empty"),
        ({"jwtRules": [{"issuer": "a", "jwks": '{"keys": []}', "jwksUri": "https://x"}]},
         "spec.jwtRules[0]", "not both"),
        ({"jwtRules": [{"issuer": "a", "jwks": "nope"}]}, "spec.jwtRules[0].jwks", "not JSON"),
        ({"jwtRules": [{"issuer": "a", "jwksUri": "file:///etc/x"}]},
         "spec.jwtRules[0].jwksUri", "not an http(s) URL"),
        ({"jwtRules": [{"issuer": "a", "fromHeader": [{"name": "x"}]}]},
         "spec.jwtRules[0].fromHeader", "did you mean 'fromHeaders'?"),
        ({"jwtRules": [{"issuer": "a", "fromHeaders": [{"name": "bad name"}]}]},
         "spec.jwtRules[0].fromHeaders[0].name", "not a header name"),
    ],
)  # fmt: skip
def test_request_authentication_errors(spec: dict[str, Any], field: str, message: str) -> None:
    problems = check_resource(ra(spec))
    assert any(f == field and message in m for f, m in problems), problems


def _claims(node: Any) -> list[tuple[str, Any]]:
    """(claim, value matcher) of every metadata matcher in an RBAC principal."""
    if isinstance(node, dict):
        if "metadata" in node and "path" in node["metadata"]:
            md = node["metadata"]
            return [(md["path"][-1]["key"], md["value"])]
        return [c for v in node.values() for c in _claims(v)]
    if isinstance(node, list):
        return [c for v in node for c in _claims(v)]
    return []


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("*", [("iss", {"present_match": True}), ("sub", {"present_match": True})]),
        (f"{ISS}/jason", [("iss", {"string_match": {"exact": ISS}}),
                          ("sub", {"string_match": {"exact": "jason"}})]),
        ("https://idp.example/realms/x/*", [
            ("iss", {"string_match": {"exact": "https://idp.example/realms/x"}}),
            ("sub", {"present_match": True}),
            ("iss", {"string_match": {"prefix": "https://idp.example/realms/x/"}}),
            ("sub", {"present_match": True})]),
        ("*/jason", [("iss", {"present_match": True}),
                     ("sub", {"string_match": {"exact": "jason"}})]),
        ("*@example.com", [("iss", {"present_match": True}),
                           ("sub", {"string_match": {"suffix": "@example.com"}})]),
    ],
)  # fmt: skip
def test_request_principal_split_at_the_last_slash(principal: str, expected: Any) -> None:
    assert _claims(request_principal_id(principal)) == expected


def test_request_principals_and_claims_compile_to_jwt_payload_matchers() -> None:
    policy = ap({**PRODUCT_ONLY, "rules": [{
        "from": [{"source": {"notRequestPrincipals": ["*"]}}],
        "when": [{"key": "request.auth.claims[groups]", "values": ["group1"]},
                 {"key": "request.auth.audiences", "notValues": ["shop"]}],
    }]})  # fmt: skip
    cfg = compiled(policy)
    rc = cfg["product-v1-0"].routes["inbound"]
    text = json.dumps(rc)
    assert '"filter": "envoy.filters.http.jwt_authn"' in text
    assert '"list_match": {"one_of": {"string_match": {"exact": "group1"}}}' in text
    assert '{"key": "aud"}' in text and '"not_id"' in text
