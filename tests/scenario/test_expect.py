"""The expectation language: what parses to what, and what is refused."""

from __future__ import annotations

import pytest

from meshsim.scenario import Expectation, parse_expectation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p99 < 300ms", ("p99", "<", 300.0, None, "all", None)),
        ("error_rate < 1%", ("error_rate", "<", 0.01, None, "all", None)),
        ("error_rate <= 0.05", ("error_rate", "<=", 0.05, None, "all", None)),
        ("rps > 50", ("rps", ">", 50.0, None, "all", None)),
        ("p50 <= 40ms", ("p50", "<=", 40.0, None, "all", None)),
        ("p99 < 1.5s", ("p99", "<", 1500.0, None, "all", None)),
        ("p999<800us", ("p999", "<", 0.8, None, "all", None)),
        ("max < 2 s", ("max", "<", 2000.0, None, "all", None)),
        ("mean < 12.5ms", ("mean", "<", 12.5, None, "all", None)),
        ("requests >= 100", ("requests", ">=", 100.0, None, "all", None)),
        ("failures == 0", ("failures", "==", 0.0, None, "all", None)),
        ("failures = 0", ("failures", "==", 0.0, None, "all", None)),
        ("p90 =< 100ms", ("p90", "<=", 100.0, None, "all", None)),
        (
            "endpoint(GET /products).p99 < 200ms",
            ("p99", "<", 200.0, None, "endpoint", "GET /products"),
        ),
        (
            "endpoint( post /orders ).error_rate < 2%",
            ("error_rate", "<", 0.02, None, "endpoint", "POST /orders"),
        ),
        (
            "journey(place_order).error_rate < 1%",
            ("error_rate", "<", 0.01, None, "journey", "place_order"),
        ),
        (
            "cohort( beta ).error_rate < 1%",
            ("error_rate", "<", 0.01, None, "cohort", "beta"),
        ),
        ("cohort(beta-testers).p99 < 1s", ("p99", "<", 1000.0, None, "cohort", "beta-testers")),
        (
            "edge(order -> product).error_rate < 1%",
            ("error_rate", "<", 0.01, None, "edge", "order->product"),
        ),
        (
            "version(product:v2).share = 10% ± 3%",
            ("share", "==", 0.1, 0.03, "version", "product:v2"),
        ),
        (
            "version(product:v2).share == 0.5 +- 0.1",
            ("share", "==", 0.5, 0.1, "version", "product:v2"),
        ),
        (
            "version(product:v1).p95 = 100ms +/- 20ms",
            ("p95", "==", 100.0, 20.0, "version", "product:v1"),
        ),
    ],
)
def test_parse(text: str, expected: tuple[object, ...]) -> None:
    e = parse_expectation(text)
    assert e.text == text
    got = (e.metric, e.op, e.value, e.tolerance, e.scope, e.target)
    assert got[:2] == expected[:2] and got[4:] == expected[4:]
    assert e.value == pytest.approx(expected[2])
    assert e.tolerance == (None if expected[3] is None else pytest.approx(expected[3]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty"),
        ("p99", "no comparison"),
        ("latency < 300ms", "unknown metric 'latency'; expected one of error_rate, p50"),
        ("p99 < 300", "p99 is a latency; '300' has no time unit"),
        ("p99 < 5%", "p99 is a latency; '%' is not a time unit"),
        ("p99 < 3min", "'min' is not a time unit"),
        ("error_rate < 10ms", "error_rate is a rate; 'ms' is not allowed"),
        ("error_rate < 5", "is not a fraction; write 5% or 0.05"),
        ("error_rate < 120%", "more than 100%"),
        ("rps > 50ms", "rps is a count"),
        ("p99 < fast", "'fast' is not a value for p99"),
        ("p99 < -5ms", "is not a value for p99"),
        ("p99 != 5ms", "'!=' is not supported"),
        ("< 5ms", "missing metric"),
        ("p99 < 5ms ± 1ms", "only goes with '='"),
        ("share = 10%", "write it as version(product:v2).share"),
        ("service(product).p99 < 1s", "unknown scope 'service'"),
        ("endpoint(/products).p99 < 1s", "is not METHOD /path"),
        ("edge(order).error_rate < 1%", "is not source->destination"),
        ("version(product).share = 10%", "is not service:version"),
        ("journey(Place Order).rps > 1", "is not a journey name"),
        ("cohort(Beta).rps > 1", "is not a cohort name"),
        ("cohort(beta).share = 10%", "write it as version(product:v2).share"),
        ("endpoint(GET /products.p99 < 1s", "a scope is written like"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=_escape(message)):
        parse_expectation(text)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("text", "observed", "holds"),
    [
        ("p99 < 300ms", 299.9, True),
        ("p99 < 300ms", 300.0, False),
        ("p99 <= 300ms", 300.0, True),
        ("rps > 50", 50.0, False),
        ("rps >= 50", 50.0, True),
        ("failures = 0", 0.0, True),
        ("failures = 0", 1.0, False),
        ("version(product:v2).share = 10% ± 3%", 0.13, True),
        ("version(product:v2).share = 10% ± 3%", 0.07, True),
        ("version(product:v2).share = 10% ± 3%", 0.131, False),
        ("error_rate < 1%", float("nan"), False),
    ],
)
def test_check(text: str, observed: float, holds: bool) -> None:
    assert parse_expectation(text).check(observed) is holds


def test_format_and_unit() -> None:
    assert parse_expectation("p99 < 1s").format(212.46) == "212.5ms"
    assert parse_expectation("error_rate < 1%").format(0.0125) == "1.25%"
    assert parse_expectation("requests > 1").format(120.0) == "120"
    assert parse_expectation("rps > 1").unit == ""


def test_expectation_is_frozen_and_prints_its_text() -> None:
    e = parse_expectation("p99 < 300ms")
    assert isinstance(e, Expectation)
    assert str(e) == "p99 < 300ms"
    with pytest.raises(AttributeError):
        e.value = 1.0  # type: ignore[misc]


def test_edge_counters_only_on_an_edge() -> None:
    e = parse_expectation("edge(order->product).ejections >= 1")
    assert (e.scope, e.metric, e.op, e.value, e.unit) == ("edge", "ejections", ">=", 1.0, "")
    for metric in ("retries", "ejections", "mirrored"):
        with pytest.raises(ValueError, match=f"{metric} is an Envoy counter on one caller's edge"):
            parse_expectation(f"journey(place_order).{metric} > 0")
    with pytest.raises(ValueError, match="is a count"):
        parse_expectation("edge(order->product).retries > 5%")


def test_check_at_the_boundary() -> None:
    """Mutation check survivors (docs/testing.md): each operator at equality,
    and a tolerance's edge counts as within it."""
    assert parse_expectation("p99 <= 300ms").check(300.0)
    assert not parse_expectation("p99 < 300ms").check(300.0)
    assert parse_expectation("rps >= 50").check(50.0)
    assert not parse_expectation("rps > 50").check(50.0)
    assert parse_expectation("version(product:v2).share = 10% ± 5%").check(0.15)
    assert not parse_expectation("version(product:v2).share = 10% ± 5%").check(0.1501)


@pytest.mark.parametrize("bad", [True, None, [0.1], {"a": 1}])
def test_parse_rate_refuses_what_is_not_a_rate(bad: object) -> None:
    from meshsim.scenario.expect import parse_rate

    with pytest.raises(ValueError, match="expected a percentage such as 1%"):
        parse_rate(bad)
    assert parse_rate(1) == 1.0 and parse_rate("0.5") == 0.5
