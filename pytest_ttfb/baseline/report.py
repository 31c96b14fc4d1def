"""report: a comparison with a baseline as text, and the gates' verdicts, for the
plugin's terminal summary and the console script alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .compare import compare_lines, mismatch_warnings
from .gates import Gate, GateResult, evaluate, regressions

__all__ = ["comparison"]


def comparison(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    gates: Sequence[Gate],
    *,
    width: int | None = None,
) -> tuple[list[str], list[GateResult]]:
    """The lines to print (warnings when the runs are not comparable, the table of
    deltas, each gate's results) and the regressions found."""
    lines = [*mismatch_warnings(baseline, current), *compare_lines(baseline, current, width)]
    results = evaluate(gates, baseline, current)
    for gate in gates:
        mine = [r for r in results if r.gate is gate]
        counts = Counter(r.status for r in mine)
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        lines.append(f"gate {gate.expr}: {summary or 'no test'}")
        lines += [f"  {result.describe()}" for result in mine if result.status != "ok"]
    return lines, regressions(results)
