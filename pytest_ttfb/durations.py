"""durations: one grammar for every duration a test writes, in markers and mock knobs.

A duration is a bare number of milliseconds (``250``, ``12.5``) or a string
``<number><unit>`` with the unit ``us``, ``ms`` or ``s`` (``"250ms"``, ``"1.5s"``,
``"800us"``; spaces around the unit allowed). It must be finite and not negative;
callers check their own ranges on the milliseconds this returns. Command-line options
stay bare milliseconds.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["DurationError", "parse_duration"]

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(us|ms|s)?\s*$")


class DurationError(ValueError):
    """A value that is no duration."""


def parse_duration(value: Any, where: str) -> float:
    """``value`` in milliseconds, or ``DurationError`` naming ``where`` and the value."""
    if isinstance(value, bool):
        raise DurationError(f"{where}: expected a duration (250, '250ms', '1.5s'), got {value!r}")
    if isinstance(value, int | float):
        number = float(value) if abs(value) < 1e300 else math.inf
        unit = 1.0
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        number, unit = float(match.group(1)), _UNITS[match.group(2) or "ms"]
    else:
        raise DurationError(
            f"{where}: expected a duration: milliseconds, or a number with us, ms or s "
            f"(250, '250ms', '1.5s'), got {value!r}"
        )
    milliseconds = number * unit
    if not math.isfinite(milliseconds) or milliseconds < 0:
        raise DurationError(f"{where}: expected a finite duration >= 0, got {value!r}")
    return milliseconds
