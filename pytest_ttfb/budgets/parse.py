"""parse: budget markers into ``Budget`` objects, or a ``BudgetError`` saying why not."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..durations import DurationError, parse_duration
from ..errors import BudgetError
from ..measure.scanner import FIRST_TOKEN_RULES
from .kinds import KINDS, MODES, Budget, BudgetKind

__all__ = ["budgets_for", "parse_mark"]


# The ranges a marker's numbers must fall in (README: "Ranges").
MAX_BUDGET_MS = 86_400_000.0  # one day
MAX_NEW_CONNECTIONS = 1_000_000
MAX_RATE = 1_000_000_000  # tokens per second


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


def _limit(kind: BudgetKind, value: Any, where: str) -> float:
    """One limit of ``kind`` (the positional, or a per-mode keyword) as a number."""
    if kind.unit == "ms":
        try:
            number: float | None = parse_duration(value, where)
        except DurationError:
            number = None
        if number is None or not 0 < number <= MAX_BUDGET_MS:
            raise BudgetError(
                f"{where} must be a number of milliseconds in (0, {MAX_BUDGET_MS:.0f}], "
                f"got {_show(value)}"
            )
        return number
    number = _finite(value)
    if kind.unit == "tokens/s":
        if number is None or not 0 < number <= MAX_RATE:
            raise BudgetError(
                f"{where} must be a number of tokens per second in (0, {MAX_RATE}], "
                f"got {_show(value)}"
            )
        return number
    if number is None or not 0 <= number <= MAX_NEW_CONNECTIONS or number % 1:
        raise BudgetError(
            f"{where} must be a whole number in [0, {MAX_NEW_CONNECTIONS}], got {_show(value)}"
        )
    return number


def parse_mark(
    name: str, args: Sequence[Any], kwargs: dict[str, Any], mode: str | None = None
) -> Budget:
    """A ``Budget`` from one marker's arguments; ``BudgetError`` says what is wrong.
    ``mode`` is the session's: a per-mode keyword for it (``live=1200``) sets the limit."""
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
    number = _limit(kind, limit, positional_name)
    chosen: str | None = None
    for each in MODES:  # every per-mode limit is checked, whichever mode runs
        if each in kwargs:
            value = _limit(kind, kwargs[each], each)
            if each == mode:
                number, chosen = value, each
    percentile = kwargs.get("percentile")
    if percentile is not None:
        percent = _finite(percentile)
        if percent is None or not 0 < percent <= 100:
            raise BudgetError(f"percentile must be a number in (0, 100], got {_show(percentile)}")
        percentile = percent
    warm = kwargs.get("warm", False)
    if not isinstance(warm, bool):
        raise BudgetError(f"warm must be True or False, got {warm!r}")
    cold = kwargs.get("cold", False)
    if not isinstance(cold, bool):
        raise BudgetError(f"cold must be True or False, got {cold!r}")
    if warm and cold:
        raise BudgetError("warm=True and cold=True exclude each other: give one")
    warmup = kwargs.get("warmup", 0)
    if (
        isinstance(warmup, bool)
        or not isinstance(warmup, int)
        or not 0 <= warmup <= MAX_NEW_CONNECTIONS
    ):
        raise BudgetError(
            f"warmup must be a whole number of requests in [0, {MAX_NEW_CONNECTIONS}], "
            f"got {_show(warmup)}"
        )
    rule = kwargs.get("rule")
    # ``isinstance`` first: ``in`` a dict hashes the value, and a list raises TypeError.
    if rule is not None and (not isinstance(rule, str) or rule not in FIRST_TOKEN_RULES):
        raise BudgetError(f"rule must be one of {', '.join(FIRST_TOKEN_RULES)}, got {_show(rule)}")
    return Budget(name, number, percentile, warm, cold, warmup, rule, chosen)


def budgets_for(marks: Iterable[Any], mode: str | None = None) -> list[Budget]:
    """Budgets from an item's marks, closest first (``item.iter_markers()`` order).
    Several marks of one name with the same filters (``percentile``, ``warm``,
    ``cold``, ``warmup``, ``rule``) are one budget: the closest to the test wins (a
    function's mark overrides its class's). ``mode`` picks per-mode limits.
    Raises ``BudgetError`` naming the first bad marker."""
    budgets: dict[tuple[Any, ...], Budget] = {}
    for mark in marks:
        if mark.name not in KINDS:
            continue
        try:
            budget = parse_mark(mark.name, mark.args, mark.kwargs, mode)
        except BudgetError as exc:
            raise BudgetError(f"@pytest.mark.{mark.name}: {exc}") from None
        key = (
            budget.marker,
            budget.percentile,
            budget.warm,
            budget.cold,
            budget.warmup,
            budget.rule,
        )
        budgets.setdefault(key, budget)
    return list(budgets.values())
