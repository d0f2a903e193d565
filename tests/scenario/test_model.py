"""The model on its own: durations, the resolved mesh, action targets."""

from __future__ import annotations

import pytest

from meshsim.scenario import (
    Scenario,
    instance_names,
    parse_duration,
    resolve_mesh,
    resolve_target,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (" 2m ", 120.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "'fast' is not a duration"),
        ("", "is not a duration"),
        ("15", "is not a duration"),
        ("s15", "is not a duration"),
        ("1m 30s", "is not a duration"),
        ("-5s", "is not a duration"),
        (0, "greater than zero"),
        (-3, "greater than zero"),
        ("0s", "greater than zero"),
        (True, "expected a duration"),
        ([1], "expected a duration"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def _scenario(services: dict[str, object] | None = None) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "t",
            "mesh": {"services": services or {}},
            "phases": [{"name": "a", "duration": "1s"}],
        }
    )


def test_resolve_mesh_defaults_to_one_v1_instance_per_shop_service() -> None:
    assert resolve_mesh(_scenario()) == {
        "user": {"v1": 1},
        "product": {"v1": 1},
        "shipping": {"v1": 1},
        "order": {"v1": 1},
    }


def test_resolve_mesh_keeps_exactly_the_listed_versions() -> None:
    scenario = _scenario({"product": {"versions": {"v2": {"replicas": 3}}}, "user": {}})
    mesh = resolve_mesh(scenario)
    assert mesh["product"] == {"v2": 3}
    assert mesh["user"] == {"v1": 1}
    assert mesh["order"] == {"v1": 1}


def test_instance_names() -> None:
    scenario = _scenario({"product": {"versions": {"v1": {"replicas": 2}, "v2": {}}}})
    assert instance_names(scenario) == [
        "user-v1-0",
        "product-v1-0",
        "product-v1-1",
        "product-v2-0",
        "shipping-v1-0",
        "order-v1-0",
    ]


@pytest.mark.parametrize(
    ("target", "instances"),
    [
        ("product", ["product-v1-0", "product-v1-1", "product-v2-0"]),
        ("product:v1", ["product-v1-0", "product-v1-1"]),
        ("product-v1-1", ["product-v1-1"]),
        ("order", ["order-v1-0"]),
    ],
)
def test_resolve_target(target: str, instances: list[str]) -> None:
    scenario = _scenario({"product": {"versions": {"v1": {"replicas": 2}, "v2": {}}}})
    assert resolve_target(scenario, target) == instances


@pytest.mark.parametrize("target", ["product-v1-2", "product:v3", "payment", "product:", "v1"])
def test_resolve_target_rejects(target: str) -> None:
    scenario = _scenario({"product": {"versions": {"v1": {"replicas": 2}}}})
    with pytest.raises(ValueError, match="is not in the mesh"):
        resolve_target(scenario, target)


def test_action_verb_and_target() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "t",
            "phases": [{"name": "a", "duration": 5, "actions": [{"pause": "user", "at": "2s"}]}],
        }
    )
    action = scenario.phases[0].actions[0]
    assert (action.verb, action.target, action.at) == ("pause", "user", 2.0)


def test_phase_expectations_are_parsed() -> None:
    scenario = Scenario.model_validate(
        {"name": "t", "phases": [{"name": "a", "duration": 5, "expect": ["p99 < 1s"]}]}
    )
    (expectation,) = scenario.phases[0].expectations
    assert (expectation.metric, expectation.value) == ("p99", 1000.0)
