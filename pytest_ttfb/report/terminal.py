"""terminal: the session summary table, the live-mode base URL line, the doctor."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..doctor import diagnose
from ..redact import redact_url
from ..results import TestResult
from ..settings import Settings
from ..stats import nearest_rank

__all__ = [
    "base_url_line",
    "describe_mode",
    "doctor_lines",
    "fit_table",
    "short_lines",
    "shorten_left",
    "summary_lines",
    "wrap",
]


def _cell(values: list[float], percentile: float | None) -> str:
    if not values:
        return "-"
    value = max(values) if percentile is None else nearest_rank(values, percentile)
    return f"{value:.1f}"


DEFAULT_BASE_URL = "https://api.anthropic.com"


def describe_mode(settings: Settings) -> str:
    """The mode as the reports name it."""
    if settings.mode == "emulate":
        regions = "".join(f", {name} {rtt:g} ms" for name, rtt in settings.regions)
        jitter = f", jitter {settings.jitter_ms:g} ms" if settings.jitter_ms else ""
        return f"emulate (RTT {settings.rtt_ms:g} ms{jitter}{regions})"
    return settings.mode


def _under(url: str, base: str) -> bool:
    """Whether ``url`` goes to ``base``: same scheme and host, a path below its path.
    Both are redacted URLs (records hold redacted URLs: compare like with like)."""
    target, root = urlsplit(url), urlsplit(base)
    if (target.scheme, target.netloc) != (root.scheme, root.netloc):
        return False
    prefix = root.path.rstrip("/")
    return target.path == prefix or target.path.startswith(prefix + "/")


def base_url_line(results: Sequence[TestResult], base_url: str | None) -> str:
    """Live mode: where the session's Anthropic calls went, and what connecting cost.
    The base URL is shown redacted, like every URL in the reports."""
    base = redact_url(base_url or DEFAULT_BASE_URL).rstrip("/")
    connects = [
        r.connect_ms
        for result in results
        for r in result.requests
        if r.connect_ms is not None and _under(r.url, base)
    ]
    cost = (
        f"connect p50 {nearest_rank(connects, 50):.1f} ms, max {max(connects):.1f} ms "
        f"over {len(connects)} new connection(s)"
        if connects
        else "no new connection"
    )
    return f"base URL {base}{'' if base_url else ' (the SDK default)'}: {cost}"


# The table's columns: (header, right-aligned). When the terminal is too narrow, long
# test ids are shortened from the left to 32 characters, then columns are dropped in
# DROP_ORDER, then the ids are shortened further; the test and verdict columns stay.
COLUMNS = (
    ("test", False),
    ("reqs", True),
    ("new", True),
    ("http", True),
    ("ttfb p50", True),
    ("p95", True),
    ("max", True),
    ("1st token", True),
    ("itl p50", True),
    ("budget", False),
    ("verdict", False),
)
DROP_ORDER = ("itl p50", "budget", "max", "1st token", "p95", "http", "reqs", "new", "ttfb p50")
_GAP = "  "
_MIN_TEST_WIDTH = 12
_READABLE_TEST_WIDTH = 32


def _attempt_label(result: TestResult) -> str:
    """A rerun test's row is its final attempt's: say which."""
    return f" (attempt {result.attempt} of {result.attempt})" if result.attempt > 1 else ""


def _row(result: TestResult, scale: float) -> tuple[str, ...]:
    ttfbs = result.ttfb_values
    tokens = [r.first_token_ms for r in result.requests if r.first_token_ms is not None]
    versions = sorted({r.http_version for r in result.requests if r.http_version})
    return (
        result.nodeid + _attempt_label(result),
        str(len(result.requests)),
        str(result.new_connections),
        ",".join(v.replace("HTTP/", "") for v in versions) or "-",
        _cell(ttfbs, 50),
        _cell(ttfbs, 95),
        _cell(ttfbs, None),
        _cell(tokens, 50),
        _cell([gap for r in result.requests for gap in r.itl_ms or []], 50),
        "; ".join(b.describe(scale) for b in result.budgets) or "-",
        result.verdict,
    )


def shorten_left(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, its start replaced by ``...``."""
    if len(text) <= width:
        return text
    return "..." + text[len(text) - max(width - 3, 0) :] if width > 3 else text[-width:]


def fit_table(rows: Sequence[tuple[str, ...]], width: int | None) -> list[str]:
    """The rows (the first is the header) as aligned lines no longer than ``width``."""
    keep = list(range(len(COLUMNS)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def total() -> int:
        return sum(widths[i] for i in keep) + len(_GAP) * (len(keep) - 1)

    if width is not None:
        # First shorten long test ids to a readable length, then drop columns, then
        # shorten the ids further: the verdict column always stays.
        if total() > width:
            excess = total() - width
            widths[0] = max(min(widths[0], _READABLE_TEST_WIDTH), widths[0] - excess)
        names = [name for name, _ in COLUMNS]
        for name in DROP_ORDER:
            if total() <= width:
                break
            keep.remove(names.index(name))
        if total() > width:
            widths[0] = max(_MIN_TEST_WIDTH, widths[0] - (total() - width))
    lines = []
    for row in rows:
        cells = []
        for i in keep:
            cell = shorten_left(row[i], widths[i]) if i == 0 else row[i]
            cells.append(cell.rjust(widths[i]) if COLUMNS[i][1] else cell.ljust(widths[i]))
        line = _GAP.join(cells).rstrip()
        lines.append(line if width is None else line[:width])
    return lines


def wrap(lines: Sequence[str], width: int | None) -> list[str]:
    if width is None:
        return list(lines)
    wrapped: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip(" ")))
        wrapped += textwrap.wrap(
            line, width, subsequent_indent=indent + "  ", break_on_hyphens=False
        ) or [""]
    return wrapped


def summary_lines(
    results: Sequence[TestResult], settings: Settings, width: int | None = None
) -> list[str]:
    """The summary (``--ttfb-report=full``): a row per test that recorded a request or
    declared a budget, in test order; no line longer than ``width`` (the terminal's).
    A rerun test's row is its final attempt's (every attempt is in the JSON report)."""
    rows = [r for r in results if r.reportable and r.final]
    if not rows:
        return []
    header = tuple(name for name, _ in COLUMNS)
    table = [header, *(_row(result, settings.budget_scale) for result in rows)]
    head = [
        f"mode: {describe_mode(settings)}; times in ms, from the moment each request "
        "entered the transport"
    ]
    # Where the Anthropic calls went: only when a test made them with its fixtures.
    if settings.mode == "live" and any(r.uses_anthropic and r.called for r in results):
        head.append(base_url_line(results, settings.base_url))
    return wrap(head, width) + fit_table(table, width)


def short_lines(
    results: Sequence[TestResult], settings: Settings, width: int | None = None
) -> list[str]:
    """The summary of ``--ttfb-report=short``: one line, then the breaching tests' rows."""
    rows = [r for r in results if r.reportable and r.final]
    if not rows:
        return []
    breached = [r for r in rows if any(v.status == "fail" for v in r.verdicts)]
    requests = sum(len(r.requests) for r in rows)
    line = (
        f"pytest-ttfb ({describe_mode(settings)}): {len(rows)} test(s), {requests} "
        f"request(s), {len(breached)} over budget"
    )
    lines = wrap([line], width)
    if breached:
        header = tuple(name for name, _ in COLUMNS)
        lines += fit_table(
            [header, *(_row(result, settings.budget_scale) for result in breached)], width
        )
    return lines


def doctor_lines(results: Sequence[TestResult]) -> list[str]:
    """The settings that defeat the recipe, per client configuration, with their fixes."""
    lines = []
    for report in diagnose((result.nodeid, result.requests) for result in results):
        lines.append(f"{report.describe()}:")
        for finding in report.findings:
            lines += [f"  - {finding.problem}", f"    fix: {finding.fix}"]
    return lines
