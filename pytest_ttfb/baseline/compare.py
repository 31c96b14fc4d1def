"""compare: a run beside its baseline, as a table of deltas, and the warnings that say
when the two are not comparable at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..report.document import final_tests
from ..stats import enough_samples, min_samples

__all__ = ["COLUMNS", "compare_lines", "mismatch_warnings"]

COLUMNS = (
    ("ttfb p50", "stats", "ttfb_ms", "p50"),
    ("ttfb p95", "stats", "ttfb_ms", "p95"),
    ("1st token p50", "stats", "first_token_ms", "p50"),
    ("new conn", "", "new_connections", ""),
)
"""The table's value columns: (heading, stats block, metric, statistic); a connection
count when the block is empty."""

_RUN_FIELDS = (
    ("mode", "mode"),
    ("rtt_ms", "RTT (ms)"),
    ("regions", "regions"),
    ("first_token_rule", "first-token rule"),
    ("machine_id", "machine id"),
    ("plugin_version", "plugin version"),
)


def mismatch_warnings(baseline_doc: Mapping[str, Any], current_doc: Mapping[str, Any]) -> list[str]:
    """One loud line per run setting that differs between the baseline and this run
    (mode, RTT, regions, first-token rule, machine id, plugin version): any of them
    makes the numbers measure something else."""
    before, after = baseline_doc.get("run", {}), current_doc.get("run", {})
    return [
        f"WARNING: the baseline's {label} ({before.get(key)!r}) differs from this run's "
        f"({after.get(key)!r}): the comparison may not mean what it seems"
        for key, label in _RUN_FIELDS
        if before.get(key) != after.get(key)
    ]


def _value(test: Mapping[str, Any], block: str, metric: str, stat: str) -> tuple[float | None, int]:
    """A column's value in one test, and the samples behind it."""
    if not block:
        count = test.get(metric)
        return (float(count) if count is not None else None), 1
    summary = test.get(block, {}).get(metric) or {}
    return summary.get(stat), int(summary.get("count", 0))


def _cell(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, column: tuple[str, ...]
) -> tuple[str, bool]:
    """The cell (this run's value, its change from the baseline) and whether it got worse."""
    _, block, metric, stat = column
    if after is None:
        return "-", False
    new, n_new = _value(after, block, metric, stat)
    if new is None:
        return "-", False
    number = f"{new:.0f}" if not block else f"{new:.1f}"
    if before is None:
        return number, False
    old, n_old = _value(before, block, metric, stat)
    if old is None:
        return number, False
    change = new - old
    delta = f"{change:+.0f}" if not block else f"{change:+.1f}"
    judged = not stat or enough_samples(stat, min(n_old, n_new))
    marker = "+" if change > 0 and judged else ("~" if not judged else "")
    return f"{number} ({delta}){marker}", change > 0 and judged


def _shorten(text: str, width: int) -> str:
    """``text`` cut from the left to ``width`` (the end of a node id says most)."""
    if len(text) <= width:
        return text
    return "..." + text[-(width - 3) :] if width > 3 else text[-width:]


def compare_lines(
    baseline_doc: Mapping[str, Any], current_doc: Mapping[str, Any], width: int | None = None
) -> list[str]:
    """A per-test table of this run against the baseline (final attempts, by node id).

    Each cell is this run's value and its change, ``120.4 (+8.1)+``: a trailing ``+``
    marks a value that rose, and the ``change`` column says ``worse`` when one did; ``~`` marks
    a statistic over too few samples in either run to call (p95 needs 20). Tests only
    this run has show as ``new``, tests only the baseline has as ``missing``. With a
    ``width``, the test column is shortened from the left so lines fit it where they can.
    """
    before, after = final_tests(baseline_doc), final_tests(current_doc)
    nodeids = [*after, *(nodeid for nodeid in before if nodeid not in after)]
    header = ("test", *(column[0] for column in COLUMNS), "change")
    rows: list[tuple[str, ...]] = [header]
    for nodeid in nodeids:
        old, new = before.get(nodeid), after.get(nodeid)
        cells, worse = [], []
        for column in COLUMNS:
            text, got_worse = _cell(old, new, column)
            cells.append(text)
            if got_worse:
                worse.append(column[0])
        if old is None:
            change = "new"
        elif new is None:
            change = "missing"
        else:
            change = "worse" if worse else ""
        rows.append((nodeid, *cells, change))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    if width is not None:
        rest = sum(widths[1:-1]) + 2 * (len(header) - 1) + max(len(r[-1]) for r in rows)
        widths[0] = max(10, min(widths[0], width - rest))
    lines = [
        f"vs baseline: value (change); + rose, ~ too few samples (p95 needs {min_samples('p95')})"
    ]
    for row in rows:
        cells = [_shorten(row[0], widths[0]).ljust(widths[0])]
        cells += [cell.rjust(widths[i]) for i, cell in enumerate(row[1:-1], 1)]
        cells.append(row[-1])
        lines.append("  ".join(cells).rstrip())
    return lines
