"""`load.arrival_rate` and `load.workers`: what the scenario accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from meshsim.scenario.model import LoadSpec


def test_closed_loop_is_the_default_and_users_keep_their_meaning() -> None:
    load = LoadSpec(users=10)
    assert load.arrival_rate is None and load.workers is None


def test_an_arrival_rate_needs_meshsims_users_and_a_cap() -> None:
    assert LoadSpec(users=5, arrival_rate=50.0).arrival_rate == 50.0
    with pytest.raises(ValidationError, match="own locustfile"):
        LoadSpec(users=5, arrival_rate=50.0, locustfile="mine.py")
    with pytest.raises(ValidationError, match="users above zero"):
        LoadSpec(users=0, arrival_rate=50.0)
    with pytest.raises(ValidationError):
        LoadSpec(arrival_rate=0)


def test_workers_are_one_or_more() -> None:
    assert LoadSpec(workers=2).workers == 2
    with pytest.raises(ValidationError):
        LoadSpec(workers=0)
