"""Cohorts: which shoppers send which headers (`load.cohorts` of a scenario).

Every shopper Locust starts joins at most one cohort and sends that cohort's
headers on each of its requests. Shoppers are dealt out in the order they
start: the k-th goes to the group (a cohort, or "no cohort" for the rest) that
is furthest behind its share once k+1 shoppers are counted, the first listed
on a tie. So at every moment of the ramp-up, and at the end, one cohort has
its share of the shoppers rounded to a whole shopper (25% of 12 is 3, of 10
it is 3, of 2 it is 1, of 1 none), and with several cohorts each group stays
within about one shopper of its share.

Pure and free of locust: `LocustRunner` passes the cohorts to the locustfile
as JSON in `MESHSIM_COHORTS` (`encode_cohorts`), and the locustfile deals with
`CohortDealer`. Nothing here imports locust.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

COHORTS_ENV = "MESHSIM_COHORTS"
# Shares are rationals so that ties (25% of 2 shoppers) are ties, not float noise.
_MAX_DENOMINATOR = 1_000_000


class _CohortLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def share(self) -> float: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class LoadCohort:
    """A cohort as the locustfile sees it: `share` is a fraction from 0 to 1."""

    name: str
    share: float
    headers: Mapping[str, str] = field(default_factory=dict)


def encode_cohorts(cohorts: Iterable[_CohortLike]) -> str:
    """The cohorts as the JSON `MESHSIM_COHORTS` holds.

    >>> encode_cohorts([LoadCohort("beta", 0.25, {"end-user": "jason"})])
    '[{"name":"beta","share":0.25,"headers":{"end-user":"jason"}}]'
    """
    return json.dumps(
        [{"name": c.name, "share": c.share, "headers": dict(c.headers)} for c in cohorts],
        separators=(",", ":"),
    )


def decode_cohorts(raw: str | None) -> list[LoadCohort]:
    """`MESHSIM_COHORTS` read back; unset or empty is no cohort. ValueError if malformed."""
    if not raw or not raw.strip():
        return []
    try:
        items: Any = json.loads(raw)
        cohorts = [
            LoadCohort(
                name=str(item["name"]),
                share=float(item["share"]),
                headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
            )
            for item in items
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"{COHORTS_ENV}: expected a JSON list of {{name, share, headers}}: {exc}"
        ) from None
    if any(not 0 <= c.share <= 1 for c in cohorts) or sum(c.share for c in cohorts) > 1 + 1e-9:
        raise ValueError(f"{COHORTS_ENV}: shares must be fractions adding up to 1 at most")
    return cohorts


class CohortDealer:
    """Deals shoppers into cohorts in the order they start (see the module doc).

    `next()` returns the index of the cohort the next shopper joins, or None
    for a shopper in no cohort.

    >>> dealer = CohortDealer([0.25])
    >>> [dealer.next() for _ in range(8)]
    [None, 0, None, None, None, 0, None, None]
    """

    def __init__(self, shares: Sequence[float]) -> None:
        wanted = [Fraction(s).limit_denominator(_MAX_DENOMINATOR) for s in shares]
        if any(w < 0 for w in wanted) or sum(wanted) > 1:
            raise ValueError("shares must be fractions from 0 to 1 adding up to 1 at most")
        # The shoppers in no cohort are the last group.
        self._wanted = [*wanted, 1 - sum(wanted, Fraction(0))]
        self._counts = [0] * len(self._wanted)
        self.dealt = 0

    def next(self) -> int | None:
        """The cohort of the next shopper (an index into `shares`), or None."""
        self.dealt += 1
        behind = [w * self.dealt - n for w, n in zip(self._wanted, self._counts, strict=True)]
        group = behind.index(max(behind))
        self._counts[group] += 1
        return group if group < len(self._wanted) - 1 else None

    @property
    def counts(self) -> list[int]:
        """Shoppers dealt so far to each cohort, in order (not those in none)."""
        return self._counts[:-1]


def deal(shares: Sequence[float], shoppers: int) -> list[int | None]:
    """The cohort of each of the first `shoppers` shoppers, as `CohortDealer` deals them.

    >>> deal([0.5, 0.25], 4)
    [0, 1, None, 0]
    """
    dealer = CohortDealer(shares)
    return [dealer.next() for _ in range(shoppers)]
