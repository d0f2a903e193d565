"""A key meshsim's Istio models reject: a real Istio field meshsim lacks, or a typo."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from meshsim.errors import ScenarioError
from meshsim.scenario import istio, istio_base, istio_jwt, istio_security, load_scenario_text
from meshsim.scenario.istio import check_resource
from meshsim.scenario.istio_fields import ISTIO_FIELDS

# meshsim reads one field current Istio no longer has: the deprecated integer
# `percent` of an abort, accepted with a warning (see resource_warnings).
_MESHSIM_ONLY = {("FaultAbort", "percent")}


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for module in (istio_base, istio, istio_security, istio_jwt):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                found[value.__name__] = value
    return found


def test_every_list_names_a_model_and_holds_every_field_meshsim_reads() -> None:
    models = _models()
    assert set(ISTIO_FIELDS) <= set(models)
    for name, fields in ISTIO_FIELDS.items():
        for field_name, info in models[name].model_fields.items():
            key = info.alias or field_name
            assert key in fields or (name, key) in _MESHSIM_ONLY, f"{name}.{key}"


def vs(http: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "product"},
        "spec": {"hosts": ["product"], "http": http, **spec},
    }


def resource(kind: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    group = "security" if kind in ("PeerAuthentication", "AuthorizationPolicy") else "networking"
    return {
        "apiVersion": f"{group}.istio.io/v1",
        "kind": kind,
        "metadata": {"name": "x", **metadata},
        "spec": spec,
    }


ROUTE = [{"destination": {"host": "product"}}]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (resource("DestinationRule", {"hostt": "product"}),
         [("spec.hostt", "unknown field 'hostt'; did you mean 'host'?")]),
        (vs([{"routes": ROUTE}]),
         [("spec.http[0].routes", "unknown field 'routes'; did you mean 'route'?")]),
        (vs([{"route": ROUTE, "retries": {"attemps": 3}}]),
         [("spec.http[0].retries.attemps", "unknown field 'attemps'; did you mean 'attempts'?")]),
        (vs([{"route": ROUTE, "retries": {"attempts": 2, "per_try_timeout": "1s"}}]),
         [("spec.http[0].retries.per_try_timeout",
           "unknown field 'per_try_timeout'; did you mean 'perTryTimeout'?")]),
        (vs([{"route": ROUTE, "match": [{"headers": {"end-user": {"exactt": "x"}}}]}]),
         [("spec.http[0].match[0].headers.end-user.exactt",
           "unknown field 'exactt'; did you mean 'exact'?")]),
        (resource("DestinationRule", {"host": "product"}, nmae="y"),
         [("metadata.nmae", "unknown field 'nmae'; did you mean 'name'?")]),
        (resource("AuthorizationPolicy", {"rules": [{"from": [{"source": {"principal": ["a"]}}]}]}),
         [("spec.rules[0].from[0].source.principal",
           "unknown field 'principal'; did you mean 'principals'?")]),
        (vs([{"route": ROUTE, "zzz": 1}]),
         [("spec.http[0].zzz", "unknown field 'zzz' (not an Istio field here); expected one of "
           "name, match, route, timeout, retries, fault, mirror, mirrorPercentage, mirrors, "
           "headers, rewrite, redirect, directResponse")]),
    ],
)  # fmt: skip
def test_a_key_istio_does_not_have_is_a_typo_with_a_suggestion(
    raw: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert check_resource(raw) == expected


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (vs([{"route": ROUTE, "corsPolicy": {}}]), "spec.http[0].corsPolicy"),
        (vs([{"route": ROUTE, "retries": {"attempts": 2, "backoff": "1s"}}]),
         "spec.http[0].retries.backoff"),
        (resource("DestinationRule", {"host": "p", "trafficPolicy": {"retryBudget": {}}}),
         "spec.trafficPolicy.retryBudget"),
        (resource("AuthorizationPolicy", {"targetRefs": []}), "spec.targetRefs"),
        (resource("Gateway", {"servers": [{"port": {}, "hosts": ["*"], "tls": {}}]}),
         "spec.servers[0].tls"),
    ],
)  # fmt: skip
def test_a_real_istio_field_is_not_supported_by_meshsim(raw: dict[str, Any], field: str) -> None:
    assert check_resource(raw) == [(field, "not supported by meshsim")]


def test_pydantic_wording_does_not_leak() -> None:
    assert check_resource(resource("DestinationRule", {})) == [
        ("spec.host", "required field is missing")
    ]
    assert check_resource(resource("PeerAuthentication", {"mtls": {"mode": "STRIKT"}})) == [
        ("spec.mtls.mode", "expected one of UNSET, DISABLE, PERMISSIVE, STRICT; got 'STRIKT'")
    ]
    problems = dict(check_resource(vs([{"route": [{**ROUTE[0], "weight": 200}]}], hosts="p")))
    assert problems == {
        "spec.hosts": "expected a list; found text 'p'",
        "spec.http[0].route[0].weight": "must be at most 100",
    }
    labels = {"selector": {"matchLabels": {"app": "product"}}}
    ports = {**labels, "portLevelMtls": {"web": {"mode": "STRICT"}}}
    assert check_resource(resource("PeerAuthentication", ports)) == [
        ("spec.portLevelMtls.web", "'web' is not a port; expected a number, e.g. 8080")
    ]


def test_the_scenario_loader_names_file_line_and_the_typo() -> None:
    text = (
        "name: x\nphases:\n  - name: a\n    duration: 5s\n    apply:\n"
        "      - apiVersion: networking.istio.io/v1\n        kind: DestinationRule\n"
        "        metadata: {name: product}\n        spec:\n          hostt: product\n"
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario_text(text, file="s.yaml")
    assert str(exc.value) == (
        "s.yaml:10: phases[0].apply[0].spec.hostt: unknown field 'hostt'; did you mean 'host'?"
    )
