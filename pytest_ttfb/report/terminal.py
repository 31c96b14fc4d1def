"""terminal: the session summary table, the live-mode base URL line, the doctor."""

from __future__ import annotations

from collections.abc import Sequence

from ..doctor import diagnose
from ..redact import redact_url
from ..results import TestResult
from ..settings import Settings
from ..stats import nearest_rank

__all__ = ["base_url_line", "describe_mode", "doctor_lines", "summary_lines", "ttfb_values"]


def ttfb_values(result: TestResult) -> list[float]:
    return [r.ttfb_ms for r in result.requests if r.ttfb_ms is not None]


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


def base_url_line(results: Sequence[TestResult], base_url: str | None) -> str:
    """Live mode: where the session's Anthropic calls went, and what connecting cost."""
    # Records hold redacted URLs: compare redacted with redacted, and show no secret.
    base = redact_url((base_url or DEFAULT_BASE_URL).rstrip("/")).rstrip("/")
    connects = [
        r.connect_ms
        for result in results
        for r in result.requests
        if r.url.startswith(base) and r.connect_ms is not None
    ]
    cost = (
        f"connect p50 {nearest_rank(connects, 50):.1f} ms, max {max(connects):.1f} ms "
        f"over {len(connects)} new connection(s)"
        if connects
        else "no new connection"
    )
    return f"base URL {base}{'' if base_url else ' (the SDK default)'}: {cost}"


def _attempt_label(result: TestResult) -> str:
    """A rerun test's row is its final attempt's: say which."""
    return f" (attempt {result.attempt} of {result.attempt})" if result.attempt > 1 else ""


def summary_lines(results: Sequence[TestResult], settings: Settings) -> list[str]:
    """One row per test that recorded a request or declared a budget: its final
    attempt's (earlier attempts of a rerun test are in the JSON report)."""
    rows = [r for r in results if r.reportable and r.final]
    if not rows:
        return []
    scale = settings.budget_scale
    header = (
        "test",
        "reqs",
        "new",
        "http",
        "ttfb p50",
        "p95",
        "max",
        "1st token",
        "budget",
        "verdict",
    )
    table: list[tuple[str, ...]] = [header]
    for result in rows:
        ttfbs = ttfb_values(result)
        tokens = [r.first_token_ms for r in result.requests if r.first_token_ms is not None]
        versions = sorted({r.http_version for r in result.requests if r.http_version})
        table.append(
            (
                result.nodeid + _attempt_label(result),
                str(len(result.requests)),
                str(result.new_connections),
                ",".join(v.replace("HTTP/", "") for v in versions) or "-",
                _cell(ttfbs, 50),
                _cell(ttfbs, 95),
                _cell(ttfbs, None),
                _cell(tokens, 50),
                "; ".join(b.describe(scale) for b in result.budgets) or "-",
                result.verdict,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        f"mode: {describe_mode(settings)}; times in ms, from the moment each request "
        "entered the transport"
    ]
    # Where the Anthropic calls went: only when a test made them with its fixtures.
    if settings.mode == "live" and any(r.uses_anthropic and r.called for r in results):
        lines.append(base_url_line(results, settings.base_url))
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(widths[i]) for i, cell in enumerate(row[1:8], 1)]
        cells += [row[8].ljust(widths[8]), row[9]]
        lines.append("  ".join(cells).rstrip())
    return lines


def doctor_lines(results: Sequence[TestResult]) -> list[str]:
    """The settings that defeat the recipe, per client configuration, with their fixes."""
    lines = []
    for report in diagnose((result.nodeid, result.requests) for result in results):
        lines.append(f"{report.describe()}:")
        for finding in report.findings:
            lines += [f"  - {finding.problem}", f"    fix: {finding.fix}"]
    return lines
