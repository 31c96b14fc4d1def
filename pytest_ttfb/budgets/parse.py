"""parse: budget markers into ``Budget`` objects, or a ``BudgetError`` saying why not."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import BudgetError
from .kinds import KINDS, Budget

__all__ = ["budgets_for", "parse_mark"]


# The ranges a marker's numbers must fall in (README: "Ranges").
MAX_BUDGET_MS = 86_400_000.0  # one day
MAX_NEW_CONNECTIONS = 1_000_000


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, NaN, an infinity, or
    an int too large for a float such as ``10**400``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _show(value: Any) -> str:
    """``repr(value)``, cut short when huge (``10**400`` has 401 digits)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def parse_mark(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Budget:
    """A ``Budget`` from one marker's arguments; ``BudgetError`` says what is wrong."""
    kind = KINDS[name]
    kwargs = dict(kwargs)
    positional_name = kind.argument
    if positional_name in kwargs:
        if args:
            raise BudgetError(f"{positional_name} given both by position and by keyword")
        args = (kwargs.pop(positional_name),)
    if len(args) != 1:
        raise BudgetError(f"takes exactly one {positional_name} argument, got {len(args)}")
    (limit,) = args
    unknown = sorted(set(kwargs) - kind.keywords)
    if unknown:
        accepted = ", ".join(sorted(kind.keywords)) or "no keyword"
        raise BudgetError(f"unknown keyword {', '.join(unknown)} (accepts {accepted})")
    number = _finite(limit)
    if kind.field is None:
        if number is None or not 0 <= number <= MAX_NEW_CONNECTIONS or number % 1:
            raise BudgetError(
                f"n must be a whole number in [0, {MAX_NEW_CONNECTIONS}], got {_show(limit)}"
            )
        return Budget(name, number)
    if number is None or not 0 < number <= MAX_BUDGET_MS:
        raise BudgetError(
            f"ms must be a number of milliseconds in (0, {MAX_BUDGET_MS:.0f}], got {_show(limit)}"
        )
    percentile = kwargs.get("percentile")
    if percentile is not None:
        percent = _finite(percentile)
        if percent is None or not 0 < percent <= 100:
            raise BudgetError(f"percentile must be a number in (0, 100], got {_show(percentile)}")
        percentile = percent
    warm = kwargs.get("warm", False)
    if not isinstance(warm, bool):
        raise BudgetError(f"warm must be True or False, got {warm!r}")
    return Budget(name, number, percentile, warm)


def budgets_for(marks: Iterable[Any]) -> list[Budget]:
    """Budgets from an item's marks, closest first (``item.iter_markers()`` order).
    Several marks of one name with the same ``percentile``/``warm`` are one budget:
    the closest to the test wins (a function's mark overrides its class's).
    Raises ``BudgetError`` naming the first bad marker."""
    budgets: dict[tuple[str, float | None, bool], Budget] = {}
    for mark in marks:
        if mark.name not in KINDS:
            continue
        try:
            budget = parse_mark(mark.name, mark.args, mark.kwargs)
        except BudgetError as exc:
            raise BudgetError(f"@pytest.mark.{mark.name}: {exc}") from None
        budgets.setdefault((budget.marker, budget.percentile, budget.warm), budget)
    return list(budgets.values())
