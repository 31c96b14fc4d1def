"""The duration grammar shared by budget markers and mock knobs."""

import pytest

from pytest_ttfb.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (250, 250.0),
        (12.5, 12.5),
        (0, 0.0),
        ("250", 250.0),
        ("250ms", 250.0),
        (" 1.5s ", 1500.0),
        ("800us", 0.8),
        ("2 s", 2000.0),
        (".5s", 500.0),
        ("1e3ms", 1000.0),
    ],
)
def test_durations(value: object, ms: float) -> None:
    assert parse_duration(value, "here") == pytest.approx(ms)


@pytest.mark.parametrize(
    "value",
    [
        -1,
        "-1ms",
        "fast",
        "10 min",
        "1.5h",
        "",
        None,
        True,
        float("nan"),
        float("inf"),
        10**400,
        "1e400s",
    ],
)
def test_not_durations(value: object) -> None:
    with pytest.raises(DurationError, match=r"^max_ttfb\(ms\): expected"):
        parse_duration(value, "max_ttfb(ms)")
