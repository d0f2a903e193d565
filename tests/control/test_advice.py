"""Advice `meshsim validate` gives before any mesh starts: compile warnings per
phase, and expectations no request can satisfy."""

from __future__ import annotations

import json
from typing import Any

from meshsim.control.advice import compile_warnings, scenario_warnings
from meshsim.scenario import load_scenario_text


def vs(name: str, destination: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": [name], "http": [{"route": [{"destination": destination}]}]},
    }


def scenario(*phases: dict[str, Any], head: str = "name: x\n") -> str:
    return head + "phases:\n" + "".join(f"  - {json.dumps(p)}\n" for p in phases)


def test_a_route_to_a_misspelled_host_or_an_undefined_subset_is_warned_once_per_phase() -> None:
    text = scenario(
        {"name": "base", "duration": "5s"},
        {
            "name": "broken",
            "duration": "5s",
            "apply": [
                vs("product", {"host": "prodct"}),
                vs("user", {"host": "user", "subset": "v3"}),
            ],
        },
        {"name": "still-broken", "duration": "5s"},
        {"name": "fixed", "duration": "5s", "remove": ["VirtualService/product"]},
    )
    warnings = compile_warnings(load_scenario_text(text))
    host = [w for w in warnings if "'prodct'" in w]
    assert host == [
        "<string>:4: phases[1].apply[0].spec.http[0]: "  # where the resource is written
        "phases broken, still-broken: VirtualService/product http[0]: destination host "
        "'prodct' is not a service in this mesh (did you mean 'product'?); Envoy has no "
        "cluster for it and answers 503 for these requests"
    ]
    subset = [w for w in warnings if "'v3'" in w]
    assert len(subset) == 1
    assert subset[0].startswith(
        "<string>:4: phases[1].apply[1].spec.http[0]: "
        "phases broken, still-broken, fixed: VirtualService/user http[0]"
    )
    assert "not defined by any DestinationRule" in subset[0]


def test_a_clean_scenario_has_no_compile_warnings() -> None:
    assert compile_warnings(load_scenario_text(scenario({"name": "a", "duration": "5s"}))) == []


def test_no_users_and_expectations_that_need_requests_is_warned() -> None:
    text = scenario(
        {"name": "a", "duration": "5s", "expect": ["p99 < 300ms", "requests >= 0"]},
        {"name": "b", "duration": "5s", "expect": ["requests == 0"]},
        head="name: x\nload: {users: 0}\n",
    )
    (warning,) = scenario_warnings(load_scenario_text(text))
    assert warning.startswith("phases[0].expect (a): load.users is 0")
    assert "'p99 < 300ms' cannot hold" in warning
    assert "requests >= 0" not in warning


def test_with_users_or_a_legacy_client_the_expectations_can_hold() -> None:
    phase = {"name": "a", "duration": "5s", "expect": ["error_rate < 1%"]}
    assert scenario_warnings(load_scenario_text(scenario(phase))) == []
    legacy = "name: x\nload: {users: 0}\nmesh:\n  legacy_clients: [{name: vm, target: product}]\n"
    assert scenario_warnings(load_scenario_text(scenario(phase, head=legacy))) == []
    shoppers_only = {**phase, "expect": ["journey(browse).error_rate < 1%"]}
    (warning,) = scenario_warnings(load_scenario_text(scenario(shoppers_only, head=legacy)))
    assert "'journey(browse).error_rate < 1%' cannot hold" in warning


def test_an_action_after_the_settle_point_is_warned() -> None:
    text = scenario(
        {
            "name": "lose",
            "duration": "30s",
            "settle": "2s",
            "actions": [{"kill": "product"}, {"restart": "product", "at": "20s"}],
            "expect": ["error_rate < 1%"],
        },
        {"name": "quiet", "duration": "5s", "actions": [{"kill": "user", "at": "3s"}]},
        head="name: x\nsettle: 1s\n",
    )
    (warning,) = scenario_warnings(load_scenario_text(text))
    assert warning.startswith(
        "phases[0].actions (lose): restart product at 20s comes after the phase's 2s settle"
    )
    # a phase without expectations judges nothing: no warning for `quiet`


def test_a_virtual_service_or_destination_rule_for_no_service_of_the_mesh_is_warned() -> None:
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "billing"},
        "spec": {"host": "billing.default.svc.cluster.local"},
    }
    text = scenario(
        {"name": "a", "duration": "5s", "apply": [vs("payments", {"host": "product"}), dr]}
    )
    warnings = compile_warnings(load_scenario_text(text))
    assert any(
        "VirtualService/payments: host 'payments' is not a service of this mesh;" in w
        and "Services: user, product, shipping, order" in w
        for w in warnings
    ), warnings
    assert any(
        "DestinationRule/billing: host 'billing.default.svc.cluster.local' is not a service" in w
        for w in warnings
    ), warnings


def test_the_services_of_the_mesh_are_the_scenarios_own() -> None:
    head = (
        "name: x\nmesh:\n  services:\n    payments:\n      command: [python3, app.py]\n"
        "      calls: []\nload:\n  requests: [{name: pay, path: /pay}]\n"
    )
    text = scenario(
        {"name": "a", "duration": "5s", "apply": [vs("payments", {"host": "payments"})]},
        head=head,
    )
    warnings = compile_warnings(load_scenario_text(text, check_files=False))
    assert not any("is not a service of this mesh" in w for w in warnings), warnings


def test_a_misspelled_host_gets_a_suggestion_and_gateway_hosts_none() -> None:
    shop_like = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "edge"},
        "spec": {
            "hosts": ["shop.example.com"],
            "gateways": ["meshsim-gateway"],
            "http": [{"route": [{"destination": {"host": "product"}}]}],
        },
    }
    text = scenario(
        {"name": "a", "duration": "5s", "apply": [vs("prodct", {"host": "product"}), shop_like]}
    )
    warnings = compile_warnings(load_scenario_text(text))
    assert any("host 'prodct' is not a service of this mesh (did you mean 'product'?)" in w
               for w in warnings), warnings  # fmt: skip
    assert not any("shop.example.com" in w for w in warnings), warnings
