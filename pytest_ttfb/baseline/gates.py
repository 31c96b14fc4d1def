"""gates: the ``--ttfb-compare-fail`` grammar, and judging a run against a baseline.

In pytest-benchmark's spirit (``--benchmark-compare-fail=min:5%``)::

    METRIC[.warm|.cold]:STAT:THRESHOLD      ttfb:p95:20%   first_token.warm:p50:50ms
    new_connections:+N                      new_connections:+0

METRIC is a budget's name: ``ttfb first_token total connect itl tpot tokens_per_s``;
``.warm`` judges only the requests on a reused connection, ``.cold`` only those that
opened one (the document's ``stats_warm`` / ``stats_cold``). STAT is one of ``p50 p90
p95 p99 max``. THRESHOLD is the allowed increase: ``N%`` of the baseline's value, or an
amount ``N`` with a unit ``us``, ``ms`` or ``s`` (a bare number is ms). For
``tokens_per_s`` it is the allowed *decrease*, in % or as a plain number of tokens/s.
``new_connections:+N`` allows N more new connections than the baseline had.

Each gate is judged per test (matched by node id, final attempts only):
``regression``, ``ok``, ``insufficient`` (fewer samples than ``MIN_SAMPLES`` asks for
the statistic, in either run), ``new`` (no such test in the baseline) or ``missing``
(in the baseline, not in this run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..report.document import final_tests
from ..stats import STATS, enough_samples

__all__ = [
    "METRICS",
    "Gate",
    "GateError",
    "GateResult",
    "evaluate",
    "parse_gate",
    "regressions",
]

METRICS = {
    "ttfb": "ttfb_ms",
    "first_token": "first_token_ms",
    "total": "total_ms",
    "connect": "connect_ms",
    "itl": "itl_ms",
    "tpot": "tpot_ms",
    "tokens_per_s": "tokens_per_s",
}
"""A gate's metric name -> the document's ``stats`` key."""

_SUBSETS = {"": "stats", "warm": "stats_warm", "cold": "stats_cold"}
# Longest first: "ms" and "us" end in "s".
_UNITS = (("us", 0.001), ("ms", 1.0), ("s", 1000.0))

Status = Literal["regression", "ok", "insufficient", "new", "missing"]


class GateError(ValueError):
    """A gate expression that does not parse; the message names it and what is wrong."""


@dataclass(frozen=True)
class Gate:
    """One parsed gate.

    ``metric`` is the name as written without its suffix (``ttfb``; ``new_connections``
    for the connection gate), ``subset`` ``""``, ``"warm"`` or ``"cold"``, ``stat`` one
    of ``STATS`` (``""`` for the connection gate). ``threshold`` is a percentage when
    ``relative``, else an amount in ms (tokens/s for ``tokens_per_s``; connections for
    ``new_connections``).
    """

    expr: str
    metric: str
    subset: str
    stat: str
    threshold: float
    relative: bool

    @property
    def key(self) -> str:
        """The document's statistics key (``ttfb_ms``), or ``new_connections``."""
        return METRICS.get(self.metric, self.metric)

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "tokens_per_s"

    @property
    def unit(self) -> str:
        if self.metric == "new_connections":
            return ""
        return " tokens/s" if self.higher_is_better else " ms"

    @property
    def label(self) -> str:
        """``ttfb.warm p95``, or ``new_connections``."""
        name = f"{self.metric}.{self.subset}" if self.subset else self.metric
        return f"{name} {self.stat}" if self.stat else name

    def describe_threshold(self) -> str:
        sign = "-" if self.higher_is_better else "+"
        amount = f"{self.threshold:g}%" if self.relative else f"{self.threshold:g}{self.unit}"
        return sign + amount

    def limit(self, before: float) -> float:
        """The worst value allowed, given the baseline's: a ceiling, or for
        ``tokens_per_s`` a floor."""
        change = before * self.threshold / 100.0 if self.relative else self.threshold
        return before - change if self.higher_is_better else before + change

    def regressed(self, before: float, after: float) -> bool:
        """Whether ``after`` is past the limit (reaching it exactly is allowed)."""
        limit = self.limit(before)
        return after < limit if self.higher_is_better else after > limit


def _fail(expr: str, problem: str) -> GateError:
    return GateError(f"bad gate expression {expr!r}: {problem}")


def _number(expr: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail(expr, f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _fail(expr, f"{what} {text!r} is not a finite number")
    if value < 0:
        raise _fail(expr, f"{what} {text!r} is negative (a threshold is the change allowed)")
    return value


def _parse_new_connections(expr: str, parts: list[str]) -> Gate:
    if len(parts) != 2:
        raise _fail(expr, "expected new_connections:+N (N more new connections allowed)")
    text = parts[1].strip()
    digits = text[1:] if text.startswith("+") else text
    if not digits.isdigit():
        raise _fail(expr, f"{text!r} is not +N with N a whole number of connections >= 0")
    return Gate(expr, "new_connections", "", "", float(int(digits)), relative=False)


def parse_gate(expr: str) -> Gate:
    """Parse one gate expression (grammar in the module docstring).

    Raises GateError naming ``expr`` and what is wrong with it: an unknown metric,
    suffix or statistic, a missing part, a threshold that is not a number, not finite,
    negative, or in a unit the metric does not take.
    """
    parts = expr.strip().split(":")
    if not expr.strip():
        raise _fail(expr, "empty; expected METRIC:STAT:THRESHOLD or new_connections:+N")
    name, _, subset = parts[0].strip().partition(".")
    if name == "new_connections":
        if subset:
            raise _fail(expr, "new_connections takes no .warm/.cold suffix")
        return _parse_new_connections(expr, parts)
    if name not in METRICS:
        known = " ".join([*METRICS, "new_connections"])
        raise _fail(expr, f"unknown metric {name!r} (expected one of: {known})")
    if subset not in _SUBSETS:
        raise _fail(expr, f"unknown suffix {'.' + subset!r} (expected .warm or .cold)")
    if len(parts) != 3:
        raise _fail(expr, f"expected METRIC:STAT:THRESHOLD (3 parts), got {len(parts)}")
    stat, threshold = parts[1].strip(), parts[2].strip().replace(" ", "")
    if stat not in STATS:
        raise _fail(expr, f"unknown statistic {stat!r} (expected one of: {' '.join(STATS)})")
    if not threshold:
        raise _fail(expr, "no threshold (expected N% or N with a unit us, ms or s)")
    if threshold.endswith("%"):
        return Gate(expr, name, subset, stat, _number(expr, threshold[:-1], "threshold"), True)
    if name == "tokens_per_s":
        if threshold[-1:].isalpha():
            raise _fail(
                expr, f"tokens_per_s takes N% or a plain number of tokens/s, not {threshold!r}"
            )
        return Gate(expr, name, subset, stat, _number(expr, threshold, "threshold"), False)
    scale, number = 1.0, threshold  # a bare number is ms
    for unit, factor in _UNITS:
        if threshold.endswith(unit):
            scale, number = factor, threshold[: -len(unit)]
            break
    else:
        if threshold[-1:].isalpha():
            raise _fail(expr, f"unknown unit in {threshold!r} (expected %, us, ms or s)")
    return Gate(expr, name, subset, stat, _number(expr, number, "threshold") * scale, False)


@dataclass(frozen=True)
class GateResult:
    """How one gate fared on one test. ``before`` / ``after`` are the statistic (or new
    connections) in the baseline and this run, ``None`` when absent; ``limit`` the worst
    value allowed; ``n`` the smaller sample count of the two runs (for ``insufficient``)."""

    gate: Gate
    nodeid: str
    status: Status
    before: float | None = None
    after: float | None = None
    limit: float | None = None
    n: int | None = None

    def _show(self, value: float) -> str:
        if self.gate.metric == "new_connections":
            return f"{value:g}"
        return f"{value:.1f}{self.gate.unit}"

    def describe(self) -> str:
        """One line: test, metric, before, after, threshold and the status."""
        status: str = self.status
        if self.status == "insufficient":
            status = f"insufficient (n={self.n})"
        text = f"{self.nodeid}: {self.gate.label}"
        if self.before is not None and self.after is not None:
            change = self.after - self.before
            percent = f" ({change / self.before * 100:+.1f}%)" if self.before else ""
            text += f" {self._show(self.before)} -> {self._show(self.after)}{percent}"
        elif self.after is not None:
            text += f" {self._show(self.after)}"
        elif self.before is not None:
            text += f" was {self._show(self.before)}"
        text += f", threshold {self.gate.describe_threshold()}"
        if self.limit is not None:
            text += f" (limit {self._show(self.limit)})"
        return f"{text}: {status}"


def _judge(
    gate: Gate, nodeid: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> GateResult:
    if gate.metric == "new_connections":
        old, new = before["new_connections"], after["new_connections"]
        status: Status = "regression" if gate.regressed(old, new) else "ok"
        return GateResult(gate, nodeid, status, old, new, gate.limit(old))
    old_stats = before[_SUBSETS[gate.subset]].get(gate.key) or {"count": 0}
    new_stats = after[_SUBSETS[gate.subset]].get(gate.key) or {"count": 0}
    old_value, new_value = old_stats.get(gate.stat), new_stats.get(gate.stat)
    n = min(old_stats["count"], new_stats["count"])
    if not enough_samples(gate.stat, n) or old_value is None or new_value is None:
        return GateResult(gate, nodeid, "insufficient", old_value, new_value, None, n)
    status = "regression" if gate.regressed(old_value, new_value) else "ok"
    return GateResult(gate, nodeid, status, old_value, new_value, gate.limit(old_value), n)


def evaluate(
    gates: Iterable[Gate], baseline_doc: Mapping[str, Any], current_doc: Mapping[str, Any]
) -> list[GateResult]:
    """Every gate on every test of either run (final attempts, matched by node id): the
    current run's tests in its order, then the baseline's tests this run lacks."""
    before, after = final_tests(baseline_doc), final_tests(current_doc)
    nodeids = [*after, *(nodeid for nodeid in before if nodeid not in after)]
    results = []
    for gate in gates:
        for nodeid in nodeids:
            if nodeid not in before:
                results.append(GateResult(gate, nodeid, "new"))
            elif nodeid not in after:
                results.append(GateResult(gate, nodeid, "missing"))
            else:
                results.append(_judge(gate, nodeid, before[nodeid], after[nodeid]))
    return results


def regressions(results: Sequence[GateResult]) -> list[GateResult]:
    """The results that fail the run."""
    return [r for r in results if r.status == "regression"]
