"""stats: nearest rank, summaries and the samples a statistic needs."""

from __future__ import annotations

import math
import random

import pytest

from pytest_ttfb.stats import MIN_SAMPLES, enough_samples, min_samples, nearest_rank, summarise


@pytest.mark.parametrize(
    ("values", "percentile", "expected"),
    [
        (list(range(1, 21)), 95, 19),  # ceil(0.95 * 20) = 19, not the max
        (list(range(1, 21)), 50, 10),
        (list(range(1, 11)), 90, 9),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 102)), 99, 100),  # ceil(99.99) = 100
        ([3.0, 1.0, 2.0], 0, 1.0),  # rank at least 1
        ([3.0, 1.0, 2.0], 100, 3.0),
        ([7.5], 50, 7.5),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 50, 3.0),  # unsorted input
    ],
)
def test_nearest_rank(values: list[float], percentile: float, expected: float) -> None:
    assert nearest_rank(values, percentile) == expected


def test_nearest_rank_is_the_smallest_value_that_covers_the_percentile() -> None:
    """The definition, checked by brute force: the least measured value with at least
    P % of the values at or below it (the budgets judge with this same function)."""
    chance = random.Random(11)
    for _ in range(200):
        values = [chance.uniform(0, 500) for _ in range(chance.randint(1, 150))]
        for percentile in (50, 90, 95, 99, 100):
            covering = [
                v for v in values if sum(w <= v for w in values) >= percentile / 100 * len(values)
            ]
            assert nearest_rank(values, percentile) == min(covering)


def test_nearest_rank_refuses_no_values_and_bad_percentiles() -> None:
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 50)
    with pytest.raises(ValueError, match="outside"):
        nearest_rank([1.0], 101)


def test_summarise() -> None:
    summary = summarise([float(v) for v in range(100, 0, -1)])
    assert summary == {
        "count": 100,
        "p50": 50.0,
        "p90": 90.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
    }


def test_summarise_leaves_out_none_and_non_finite() -> None:
    summary = summarise([None, 4.0, math.nan, 2.0, math.inf, None, -math.inf])
    assert summary["count"] == 2
    assert summary["max"] == 4.0
    assert summary["p50"] == 2.0


def test_summarise_of_nothing_has_the_same_shape() -> None:
    assert summarise([]) == {
        "count": 0,
        "p50": None,
        "p90": None,
        "p95": None,
        "p99": None,
        "max": None,
    }
    assert summarise([None, None])["count"] == 0


def test_min_samples() -> None:
    assert MIN_SAMPLES == {"p95": 20, "p99": 100}
    assert [min_samples(s) for s in ("p50", "p90", "p95", "p99", "max")] == [1, 1, 20, 100, 1]
    assert not enough_samples("p95", 19)
    assert enough_samples("p95", 20)
    assert not enough_samples("p99", 99)
    assert enough_samples("p99", 100)
    assert enough_samples("p50", 1)
    assert not enough_samples("max", 0)
