"""Dealing shoppers into cohorts: pure, deterministic, no locust."""

from __future__ import annotations

import subprocess
import sys

import pytest

from meshsim.load.cohorts import (
    CohortDealer,
    LoadCohort,
    deal,
    decode_cohorts,
    encode_cohorts,
)
from meshsim.scenario.model import LoadSpec


def test_one_cohort_gets_its_share_rounded_at_every_moment() -> None:
    for share in (0.1, 0.25, 1 / 3, 0.5, 0.9):
        dealer = CohortDealer([share])
        for shoppers in range(1, 200):
            dealer.next()
            # as close as whole shoppers allow: never more than half a shopper off
            assert abs(dealer.counts[0] - share * shoppers) <= 0.5 + 1e-9, (share, shoppers)


@pytest.mark.parametrize(
    ("shares", "shoppers", "counts"),
    [
        ([0.25], 12, [3]),
        ([0.25], 10, [3]),  # 2.5: a tie goes to the cohort
        ([0.25], 2, [1]),
        ([0.25], 1, [0]),
        ([0.1], 4, [0]),  # a small share of few shoppers rounds to nobody
        ([0.5, 0.25], 8, [4, 2]),
        ([0.2, 0.3, 0.5], 10, [2, 3, 5]),
        ([1.0], 5, [5]),
        ([0.0, 0.5], 4, [0, 2]),
        ([], 3, []),
    ],
)
def test_final_counts(shares: list[float], shoppers: int, counts: list[int]) -> None:
    dealt = deal(shares, shoppers)
    assert [dealt.count(i) for i in range(len(shares))] == counts
    assert dealt.count(None) == shoppers - sum(counts)


def test_several_cohorts_stay_within_about_one_shopper() -> None:
    shares = [0.15, 0.35, 0.2]
    dealer = CohortDealer(shares)
    rest = 0
    for shoppers in range(1, 500):
        rest += dealer.next() is None
        for share, count in zip(shares, dealer.counts, strict=True):
            assert abs(count - share * shoppers) < 1.0
        assert abs(rest - 0.3 * shoppers) < 1.0


def test_dealing_is_deterministic_and_interleaved() -> None:
    assert deal([0.25], 8) == [None, 0, None, None, None, 0, None, None]
    assert deal([0.25], 8) == deal([0.25], 8)
    # the cohort's shoppers are spread over the ramp-up, not bunched at one end
    assert deal([0.5], 6) == [0, None, 0, None, 0, None]


def test_shares_over_100_percent_are_refused() -> None:
    with pytest.raises(ValueError, match="adding up to 1 at most"):
        CohortDealer([0.6, 0.5])


def test_env_round_trip_from_the_scenario_model() -> None:
    load = LoadSpec.model_validate(
        {"cohorts": [{"name": "beta", "share": "25%", "headers": {"end-user": "beta-tester"}}]}
    )
    raw = encode_cohorts(load.cohorts)
    assert decode_cohorts(raw) == [LoadCohort("beta", 0.25, {"end-user": "beta-tester"})]


@pytest.mark.parametrize("raw", [None, "", "  ", "[]"])
def test_no_cohorts(raw: str | None) -> None:
    assert decode_cohorts(raw) == []


@pytest.mark.parametrize(
    "raw", ["{", '{"name": "beta"}', '[{"share": 0.5}]', '[{"name": "b", "share": 1.5}]']
)
def test_malformed_env_is_an_error(raw: str) -> None:
    with pytest.raises(ValueError, match="MESHSIM_COHORTS"):
        decode_cohorts(raw)


def test_importing_meshsim_never_imports_locust() -> None:
    code = (
        "import sys, meshsim, meshsim.load, meshsim.load.cohorts, meshsim.scenario, "
        "meshsim.report\n"
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, 'locust imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
