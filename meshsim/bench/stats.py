"""Small pure helpers for the figures: percentiles from histograms and lists."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def pkey(p: float) -> str:
    """'p50', 'p99', 'p99.9'."""
    return f"p{p:g}"


def hist_ms(hist: HdrHistogram, percentiles: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """Percentiles of a microsecond histogram, in milliseconds (3 decimals)."""
    return {pkey(p): round(hist.get_value_at_percentile(p) / 1000.0, 3) for p in percentiles}


def quantile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) of `values`, nearest rank.

    >>> quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)
    9
    >>> quantile([3.0], 99)
    3.0
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """median, p90, p99, min and max of `values`."""
    return {
        "median": round(statistics.median(values), digits),
        "p90": round(quantile(values, 90), digits),
        "p99": round(quantile(values, 99), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }
