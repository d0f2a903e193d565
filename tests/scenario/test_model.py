"""The model on its own: durations, the resolved mesh, action targets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from meshsim.scenario import (
    Scenario,
    instance_names,
    parse_duration,
    resolve_mesh,
    resolve_target,
)
from meshsim.scenario.model import LoadSpec


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


@pytest.mark.parametrize(
    ("share", "fraction"),
    [("25%", 0.25), (" 12.5 % ", 0.125), ("0.25", 0.25), (0.25, 0.25), (1, 1.0), (0, 0.0)],
)
def test_cohort_share_is_a_rate_as_in_expectations(share: object, fraction: float) -> None:
    load = LoadSpec(cohorts=[{"name": "beta", "share": share}])  # type: ignore[list-item]
    assert load.cohorts[0].share == pytest.approx(fraction)
    assert load.cohorts[0].headers == {}


def test_cohorts_default_to_none_and_keep_their_headers() -> None:
    assert LoadSpec().cohorts == []
    load = LoadSpec.model_validate(
        {
            "cohorts": [
                {"name": "beta", "share": "25%", "headers": {"end-user": "beta-tester"}},
                {"name": "staff", "share": "5%", "headers": {"X-Staff": "yes", "x-team": ""}},
            ]
        }
    )
    assert [(c.name, c.headers) for c in load.cohorts] == [
        ("beta", {"end-user": "beta-tester"}),
        ("staff", {"X-Staff": "yes", "x-team": ""}),
    ]


@pytest.mark.parametrize(
    ("cohorts", "loc", "message"),
    [
        ([{"name": "b", "share": 25}], ("cohorts", 0, "share"), "write 25% or 0.25"),
        ([{"name": "b", "share": "120%"}], ("cohorts", 0, "share"), "more than 100%"),
        ([{"name": "b", "share": "-5%"}], ("cohorts", 0, "share"), "is not a value for share"),
        ([{"name": "b", "share": True}], ("cohorts", 0, "share"), "a percentage such as"),
        ([{"name": "B", "share": 0.1}], ("cohorts", 0, "name"), "pattern"),
        ([{"name": "b"}], ("cohorts", 0, "share"), "Field required"),
        (
            [{"name": "b", "share": 0.1, "headers": {"end user": "x"}}],
            ("cohorts", 0, "headers", "end user", "[key]"),
            "not a valid header name",
        ),
        (
            [{"name": "b", "share": 0.1, "headers": {"Host": "shop"}}],
            ("cohorts", 0, "headers", "Host", "[key]"),
            "cannot be set by a cohort",
        ),
        (
            [{"name": "b", "share": 0.1, "headers": {"transfer-encoding": "chunked"}}],
            ("cohorts", 0, "headers", "transfer-encoding", "[key]"),
            "hop-by-hop",
        ),
        (
            [{"name": "b", "share": 0.1, "headers": {"end-user": "a\r\nx-evil: 1"}}],
            ("cohorts", 0, "headers", "end-user"),
            "not a valid header value",
        ),
        (
            [{"name": "b", "share": 0.1, "headers": {"end-user": 7}}],
            ("cohorts", 0, "headers", "end-user"),
            "string",
        ),
        (
            [{"name": "b", "share": 0.1, "headers": {"End-User": "a", "end-user": "b"}}],
            ("cohorts", 0, "headers"),
            "'end-user' repeats 'End-User'; header names ignore case",
        ),
        (
            [{"name": "b", "share": 0.5}, {"name": "b", "share": 0.1}],
            ("cohorts",),
            "duplicate cohort name 'b' (already used by cohorts[0])",
        ),
        (
            [{"name": "a", "share": "60%"}, {"name": "b", "share": 0.5}],
            ("cohorts",),
            "shares add up to 110% (a 60% + b 50%); at most 100%",
        ),
    ],
)
def test_cohorts_rejected(
    cohorts: list[dict[str, object]], loc: tuple[object, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        LoadSpec.model_validate({"cohorts": cohorts})
    (error,) = info.value.errors()
    assert error["loc"] == loc
    assert message in error["msg"]


def test_cohort_shares_may_add_up_to_exactly_100_percent() -> None:
    thirds = [{"name": n, "share": "33.333333%"} for n in ("a", "b")] + [
        {"name": "c", "share": "33.333334%"}
    ]
    assert len(LoadSpec.model_validate({"cohorts": thirds}).cohorts) == 3


def test_settle_defaults_to_the_scenario_then_to_none() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "settle": "1500ms",
            "phases": [
                {"name": "a", "duration": 10},
                {"name": "b", "duration": "15s", "settle": "2s"},
                {"name": "c", "duration": 5, "settle": 0},
                {"name": "d", "duration": 5, "settle": "0s"},
            ],
        }
    )
    assert [p.settle for p in scenario.phases] == [None, 2.0, 0.0, 0.0]
    assert [scenario.settle_of(p) for p in scenario.phases] == [1.5, 2.0, 0.0, 0.0]
    plain = Scenario.model_validate({"name": "x", "phases": [{"name": "a", "duration": 1}]})
    assert plain.settle is None and plain.settle_of(plain.phases[0]) == 0.0


def test_only_a_settle_may_be_zero() -> None:
    assert parse_duration("0s", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration("0s")
    with pytest.raises(ValidationError, match="greater than zero"):
        Scenario.model_validate({"name": "x", "phases": [{"name": "a", "duration": 0}]})
