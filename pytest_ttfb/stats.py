"""stats: the summary statistics of reports, baselines and gates (pure functions).

Percentiles are by nearest rank, the same function the budgets use: the value at rank
``ceil(p/100 * n)`` (at least 1) of the sorted values, so every statistic is a latency
that was really observed, never an interpolation between two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = [
    "MIN_SAMPLES",
    "PERCENTILES",
    "STATS",
    "enough_samples",
    "min_samples",
    "nearest_rank",
    "summarise",
]

STATS = ("p50", "p90", "p95", "p99", "max")
"""The statistics a summary holds besides ``count``, in the order reports show them."""

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
"""Each statistic as a percentile (``max`` is the 100th: the largest value)."""

MIN_SAMPLES = {"p95": 20, "p99": 100}
"""Samples a statistic needs before a comparison may judge it (any other needs 1): with
fewer than 20 values the p95 is simply the maximum, one outlier away from anything."""


def nearest_rank(values: Sequence[float], percentile: float) -> float:
    """The ``ceil(percentile/100 * n)``-th smallest of ``values`` (rank at least 1).

    Raises ValueError on an empty sequence or a percentile outside [0, 100].
    """
    if not values:
        raise ValueError("nearest_rank of no values")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile {percentile!r} is outside [0, 100]")
    ordered = sorted(values)
    # percentile * n / 100 rather than percentile / 100 * n: 95 * 20 / 100 is exactly 19,
    # where 0.95 * 20 may land a hair above it and pick rank 20.
    rank = max(1, math.ceil(percentile * len(ordered) / 100.0))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """``{"count", "p50", "p90", "p95", "p99", "max"}`` of ``values``.

    ``None`` (a phase that did not happen) and non-finite values (not a measurement)
    are left out and not counted. With no value left: ``count`` 0 and every statistic
    ``None``, so a summary is always the same shape.
    """
    kept = [float(v) for v in values if v is not None and math.isfinite(v)]
    summary: dict[str, float | int | None] = {"count": len(kept)}
    for stat in STATS:
        summary[stat] = nearest_rank(kept, PERCENTILES[stat]) if kept else None
    return summary


def min_samples(stat: str) -> int:
    """How many samples ``stat`` needs before it is judged (see ``MIN_SAMPLES``)."""
    return MIN_SAMPLES.get(stat, 1)


def enough_samples(stat: str, count: int) -> bool:
    """Whether a summary over ``count`` values is enough to judge its ``stat``."""
    return count >= min_samples(stat)
