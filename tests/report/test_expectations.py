from __future__ import annotations

from typing import Any

import pytest

from meshsim.load.records import RequestRecord
from meshsim.report.expectations import NO_EDGE_DATA, evaluate
from meshsim.report.model import ExpectationResult
from meshsim.report.stats import PhaseStats, phase_stats
from meshsim.scenario.expect import parse_expectation
from tests.report.runs import request

DURATION = 10.0


def stats_of(*records: dict[str, Any]) -> PhaseStats:
    return phase_stats([RequestRecord.from_json(r) for r in records], DURATION)


def check(
    text: str, stats: PhaseStats, edges: list[dict[str, Any]] | None = None
) -> ExpectationResult:
    return evaluate(parse_expectation(text), stats, edges, DURATION)


@pytest.fixture
def shop() -> PhaseStats:
    """100 requests: 90 fast browse, 10 slow orders of which 2 failed."""
    browse = [
        request(i * 0.1, latency_us=2_000, instance="product-v1-0" if i % 10 else "product-v2-0")
        for i in range(90)
    ]
    orders = [
        request(
            9.0 + i * 0.1,
            name="POST /orders",
            journey="place_order",
            latency_us=400_000,
            ok=i >= 2,
            instance="order-v1-0",
            upstreams=["user-v1-0", "product-v1-0", "shipping-v1-0"],
        )
        for i in range(10)
    ]
    return stats_of(*browse, *orders)


def test_all_scope_passes_and_fails(shop: PhaseStats) -> None:
    ok = check("error_rate < 5%", shop)
    assert ok.passed and ok.observed == 0.02 and ok.unit == "fraction" and ok.note is None
    bad = check("p99 < 300ms", shop)
    assert not bad.passed
    assert bad.observed == pytest.approx(400.0, rel=1e-3)
    assert (bad.unit, bad.metric, bad.op, bad.expected) == ("ms", "p99", "<", 300.0)
    assert check("rps >= 10", shop).passed
    assert check("requests == 100", shop).passed
    assert not check("failures < 2", shop).passed


def test_endpoint_and_journey_scopes(shop: PhaseStats) -> None:
    assert check("endpoint(GET /products).p99 < 5ms", shop).passed
    orders = check("endpoint(POST /orders).error_rate < 10%", shop)
    assert not orders.passed and orders.observed == 0.2
    assert check("journey(browse).requests == 90", shop).passed
    assert not check("journey(place_order).p50 < 100ms", shop).passed


def test_an_endpoint_without_requests_fails_with_a_note(shop: PhaseStats) -> None:
    missing = check("endpoint(GET /users/{id}).p99 < 100ms", shop)
    assert not missing.passed and missing.observed is None
    assert missing.note is not None and "GET /users/{id}" in missing.note
    assert "GET /products" in missing.note  # says what was seen instead
    # ...but "no requests" is a real observation for a count.
    assert check("endpoint(GET /users/{id}).requests == 0", shop).passed


def test_version_share_from_records(shop: PhaseStats) -> None:
    # product served 90 browse requests (81 v1, 9 v2) and 10 as an upstream of order (v1).
    share = check("version(product:v2).share = 10% ± 3%", shop)
    assert share.passed and share.observed == 0.09 and share.tolerance == 0.03
    assert not check("version(product:v2).share = 50% ± 3%", shop).passed
    assert check("version(product:v1).requests == 91", shop).passed
    assert check("version(order:v1).error_rate <= 20%", shop).passed


def test_version_metrics_behind_another_service_are_unknown(shop: PhaseStats) -> None:
    result = check("version(shipping:v1).p99 < 100ms", shop)
    assert not result.passed and result.observed is None and result.note


def test_version_share_prefers_edge_data_with_versions(shop: PhaseStats) -> None:
    edges = [
        {
            "source": "ingress",
            "destination": "product",
            "destination_version": "v1",
            "requests": 50,
        },
        {
            "source": "ingress",
            "destination": "product",
            "destination_version": "v2",
            "requests": 50,
        },
    ]
    assert check("version(product:v2).share = 50% ± 1%", shop, edges).observed == 0.5


def _to_product(source: str, version: str | None, requests: int, **more: int) -> dict[str, Any]:
    return {
        "source": source,
        "destination": "product",
        "destination_version": version,
        "requests": requests,
        **more,
    }


INGRESS = "istio-ingressgateway"


def test_version_share_counts_the_ingress_calls_too(shop: PhaseStats) -> None:
    # The canary split on both the sidecars' and the gateway's routes: every
    # caller's calls name a version, and they all count.
    edges = [
        _to_product("order", "v1", 90),
        _to_product("order", "v2", 10),
        _to_product(INGRESS, "v1", 20),
        _to_product(INGRESS, "v2", 80),
    ]
    share = check("version(product:v2).share = 45% ± 1%", shop, edges)
    assert share.passed and share.observed == 0.45 and share.note is None
    assert check("version(product:v2).requests == 90", shop, edges).passed


def test_version_share_of_an_unsplit_ingress_comes_from_the_records(shop: PhaseStats) -> None:
    # A canary bound to sidecars only: the ingress's calls go to the whole
    # service, which Envoy's per-cluster counters cannot attribute. Counting
    # order's calls alone would say 0%; the records say who answered (9 of 100).
    edges = [_to_product("order", "v1", 10), _to_product(INGRESS, None, 90)]
    share = check("version(product:v2).share = 0%", shop, edges)
    assert not share.passed and share.observed == 0.09
    assert share.note == (
        "from the load's records: istio-ingressgateway → product (90 calls) went to no subset"
    )
    assert check("version(product:v1).requests == 91", shop, edges).passed


def test_version_share_leaves_out_calls_before_the_routes_took_effect(shop: PhaseStats) -> None:
    # A caller that used subsets in the phase sent its few whole-service calls
    # before the phase's routes reached its proxy: the previous routing.
    edges = [
        _to_product("order", None, 3),
        _to_product("order", "v1", 97),
        _to_product(INGRESS, None, 2),
        _to_product(INGRESS, "v1", 50),
    ]
    share = check("version(product:v2).share = 0%", shop, edges)
    assert share.passed and share.observed == 0.0 and share.note is None


def test_version_share_mirrored_copies_do_not_split_a_caller(shop: PhaseStats) -> None:
    # order → v2 only as a mirror (no answered calls): order's calls to the
    # whole service are not attributed by the edges.
    edges = [_to_product("order", "v2", 0, mirrored=40), _to_product("order", None, 40)]
    share = check("version(product:v2).share = 9% ± 1%", shop, edges)
    assert share.passed and share.note is not None and "order → product (40 calls)" in share.note


def test_version_share_unattributed_and_no_records_is_unknown() -> None:
    edges = [_to_product(INGRESS, None, 90)]
    share = check("version(product:v2).share = 0%", stats_of(), edges)
    assert not share.passed and share.observed is None
    assert share.note is not None and share.note.startswith("no requests to product")
    assert "istio-ingressgateway → product (90 calls) went to no subset" in share.note


def test_edge_expectations_without_edge_data_fail(shop: PhaseStats) -> None:
    result = check("edge(order->product).error_rate < 1%", shop)
    assert not result.passed
    assert result.observed is None
    assert result.note == NO_EDGE_DATA


def test_edge_expectations_with_edge_data(shop: PhaseStats) -> None:
    edges = [
        {"source": "order", "destination": "product", "requests": 200, "errors": 4, "retries": 3},
        {"source": "order", "destination": "user", "requests": 100, "errors": 0, "retries": 0},
    ]
    rate = check("edge(order->product).error_rate < 1%", shop, edges)
    assert not rate.passed and rate.observed == 0.02
    assert check("edge(order->user).error_rate < 1%", shop, edges).passed
    assert check("edge(order->product).rps == 20", shop, edges).passed
    missing = check("edge(order->shipping).requests == 0", shop, edges)
    assert not missing.passed and missing.observed is None
    assert missing.note == (
        "no edge data: no edge order->shipping in this phase (edges: order->product, order->user)"
    )
    unknown = check("edge(order->product).p99 < 100ms", shop, edges)
    assert not unknown.passed and unknown.observed is None and unknown.note


def test_the_gateway_has_one_name_in_edge_expectations(shop: PhaseStats) -> None:
    # Edges name the gateway istio-ingressgateway; `ingress` is read as that
    edges = [{"source": "istio-ingressgateway", "destination": "order", "requests": 300,
              "errors": 259}]  # fmt: skip
    for name in ("ingress", "istio-ingressgateway"):
        result = check(f"edge({name}->order).failures = 0", shop, edges)
        assert not result.passed and result.observed == 259.0
        assert result.target == "istio-ingressgateway->order"
    assert check("edge(ingress->order).requests = 300", shop, edges).passed


def test_a_missing_edge_is_no_data_unless_the_phase_had_no_load(shop: PhaseStats) -> None:
    edges = [{"source": "order", "destination": "product", "requests": 20, "errors": 0}]
    for text in ("edge(order->user).requests = 0", "edge(order->user).failures = 0",
                 "edge(order->user).rps < 1", "edge(order->user).error_rate < 1%"):  # fmt: skip
        result = check(text, shop, edges)
        assert not result.passed and result.observed is None, text
        assert result.note and result.note.startswith(NO_EDGE_DATA), text
    # a phase without load: no calls anywhere is a real 0
    assert check("edge(order->user).requests = 0", stats_of(), []).passed
    assert check("edge(order->user).failures = 0", stats_of(), edges).passed


def test_rates_over_zero_requests_fail_rather_than_pass() -> None:
    empty = stats_of()
    result = check("error_rate < 1%", empty)
    assert not result.passed and result.observed is None
    assert result.note == "no requests in this phase"
    assert check("requests == 0", empty).passed


def test_cohort_scope() -> None:
    stats = phase_stats(
        [
            RequestRecord.from_json(r)
            for r in (
                request(0.0, cohort="beta", latency_us=5_000),
                request(0.1, cohort="beta", latency_us=5_000, ok=False),
                request(0.2, latency_us=1_000),
            )
        ],
        DURATION,
        cohorts=["beta", "staff"],
    )
    assert check("cohort(beta).error_rate = 50%", stats).passed
    assert check("cohort(beta).requests == 2", stats).passed
    assert check("cohort(beta).p50 > 4ms", stats).passed
    idle = check("cohort(staff).error_rate < 1%", stats)
    assert not idle.passed and idle.observed is None
    assert idle.note == "no requests for cohort 'staff'"
    assert check("cohort(staff).requests == 0", stats).passed
    unknown = check("cohort(gamma).requests > 0", stats)
    assert unknown.observed == 0 and "(seen: beta, staff)" in (unknown.note or "")


def test_edge_counters_sum_over_the_destinations_versions(shop: PhaseStats) -> None:
    edges = [
        {"source": "order", "destination": "product", "destination_version": "v1",
         "requests": 90, "errors": 0, "retries": 7, "ejections": 1, "mirrored": 0},
        {"source": "order", "destination": "product", "destination_version": "v2",
         "requests": 0, "errors": 0, "retries": 0, "ejections": 0, "mirrored": 90},
        {"source": "ingress", "destination": "product", "requests": 50, "retries": 5},
    ]  # fmt: skip
    retries = check("edge(order->product).retries > 0", shop, edges)
    assert retries.passed and retries.observed == 7.0
    assert check("edge(order->product).mirrored = 90", shop, edges).passed
    assert not check("edge(order->product).ejections >= 2", shop, edges).passed
    # a counter the edge does not carry (older edges.json) counts 0, not "no data"
    assert check("edge(order->user).retries = 0", shop, [
        {"source": "order", "destination": "user", "requests": 5}
    ]).passed  # fmt: skip
    assert check("edge(order->product).retries = 0", shop, None).observed is None


def test_edge_denied_counts_authorization_refusals(shop: PhaseStats) -> None:
    """`denied` comes from the callees' access logs (authz.json merged into the
    edges); an edge without it was never counted: no data, never a 0 that
    would pass `denied = 0`."""
    edges = [
        {"source": "user", "destination": "product", "destination_version": "v1",
         "requests": 30, "errors": 0, "denied": 12, "denied_by": {"none": 12}},
        {"source": "user", "destination": "product", "destination_version": "v2",
         "requests": 30, "errors": 0, "denied": 18},
    ]  # fmt: skip
    denied = check("edge(user->product).denied > 25", shop, edges)
    assert denied.passed and denied.observed == 30.0
    assert not check("edge(user->product).denied = 0", shop, edges).passed
    uncounted = check("edge(user->product).denied = 0", shop, [
        {"source": "user", "destination": "product", "requests": 30, "errors": 0}
    ])  # fmt: skip
    assert not uncounted.passed and uncounted.observed is None
    assert "access logs" in (uncounted.note or "")
