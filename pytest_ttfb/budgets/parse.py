"""parse: budget markers into ``Budget`` objects, or a ``BudgetError`` saying why not."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import BudgetError
from .kinds import KINDS, Budget

__all__ = ["budgets_for", "parse_mark"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
    if kind.field is None:
        if not (_is_number(limit) and limit >= 0 and limit == int(limit)):
            raise BudgetError(f"n must be a whole number >= 0, got {limit!r}")
        return Budget(name, float(limit))
    if not (_is_number(limit) and limit > 0):
        raise BudgetError(f"ms must be a positive number of milliseconds, got {limit!r}")
    percentile = kwargs.get("percentile")
    if percentile is not None and not (_is_number(percentile) and 0 < percentile <= 100):
        raise BudgetError(f"percentile must be a number in (0, 100], got {percentile!r}")
    warm = kwargs.get("warm", False)
    if not isinstance(warm, bool):
        raise BudgetError(f"warm must be True or False, got {warm!r}")
    return Budget(name, float(limit), None if percentile is None else float(percentile), warm)


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
