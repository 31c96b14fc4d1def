"""show: the terminal summary, the JSON report and the JUnit properties."""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ._doctor import ClientReport, diagnose
from ._judge import Budget, Verdict, describe_failure, nearest_rank
from ._settings import Settings
from ._store import PoolSettings, RequestTiming

__all__ = [
    "TestResult",
    "describe_unmatched",
    "doctor_lines",
    "failure_text",
    "junit_properties",
    "summary_lines",
    "write_json",
]

JSON_FORMAT_VERSION = 1


@dataclass
class TestResult:
    """What one test recorded and how its budgets fared."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    nodeid: str
    requests: list[RequestTiming]
    budgets: list[Budget] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    enforced: bool = True
    unmatched: list[str] = field(default_factory=list)

    @property
    def new_connections(self) -> int:
        return sum(1 for r in self.requests if r.new_connection)

    @property
    def reportable(self) -> bool:
        """Reports list the tests that sent a request or declared a budget."""
        return bool(self.requests or self.budgets)

    @property
    def verdict(self) -> str:
        statuses = {v.status for v in self.verdicts}
        if "fail" in statuses:
            return "FAIL" if self.enforced else "over (not enforced)"
        if "pass" in statuses:
            return "pass"
        return "n/a" if statuses else "-"

    def to_wire(self) -> dict[str, Any]:
        """Plain data, for a pytest-xdist worker to send to the controller on its report
        (the offending requests of a verdict stay behind: the worker already wrote the
        failure text)."""
        return {
            "nodeid": self.nodeid,
            "requests": [asdict(r) for r in self.requests],
            "budgets": [asdict(b) for b in self.budgets],
            "verdicts": [
                {
                    "budget": asdict(v.budget),
                    "status": v.status,
                    "observed": v.observed,
                    "reason": v.reason,
                }
                for v in self.verdicts
            ],
            "enforced": self.enforced,
            "unmatched": list(self.unmatched),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TestResult:
        def timing(fields: dict[str, Any]) -> RequestTiming:
            pool = fields.pop("pool", None)
            return RequestTiming(**fields, pool=PoolSettings(**pool) if pool else None)

        return cls(
            nodeid=data["nodeid"],
            requests=[timing(dict(fields)) for fields in data["requests"]],
            budgets=[Budget(**b) for b in data["budgets"]],
            verdicts=[
                Verdict(Budget(**v["budget"]), v["status"], v["observed"], v["reason"])
                for v in data["verdicts"]
            ],
            enforced=data["enforced"],
            unmatched=list(data["unmatched"]),
        )


def describe_unmatched(unmatched: Sequence[str]) -> str:
    if not unmatched:
        return ""
    counts = collections.Counter(unmatched)  # first-seen order, repeats folded
    listed = "\n".join(
        f"  {request}" + (f" (x{count})" if count > 1 else "") for request, count in counts.items()
    )
    return (
        f"pytest-ttfb: {len(unmatched)} request(s) matched no ttfb_mock route:\n{listed}\n"
        "Declare them on the ttfb_mock fixture, or run with --ttfb-mode=live."
    )


def failure_text(result: TestResult, failures: Sequence[str], scale: float) -> str:
    """Why the plugin fails this test, or "": requests no route matched, the plugin's
    own errors, and breached budgets (when they are enforced)."""
    parts = [describe_unmatched(result.unmatched), *dict.fromkeys(failures)]
    if result.enforced and any(v.status == "fail" for v in result.verdicts):
        parts.append(describe_failure(result.verdicts, result.requests, scale))
    return "\n\n".join(part for part in parts if part)


def _ttfbs(result: TestResult) -> list[float]:
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
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
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


def summary_lines(results: Sequence[TestResult], settings: Settings) -> list[str]:
    """One row per test that recorded a request or declared a budget."""
    rows = [r for r in results if r.reportable]
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
        ttfbs = _ttfbs(result)
        tokens = [r.first_token_ms for r in result.requests if r.first_token_ms is not None]
        versions = sorted({r.http_version for r in result.requests if r.http_version})
        table.append(
            (
                result.nodeid,
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
    if settings.mode == "live":
        lines.append(base_url_line(results, settings.base_url))
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(widths[i]) for i, cell in enumerate(row[1:8], 1)]
        cells += [row[8].ljust(widths[8]), row[9]]
        lines.append("  ".join(cells).rstrip())
    return lines


def _diagnose(results: Sequence[TestResult]) -> list[ClientReport]:
    return diagnose((result.nodeid, result.requests) for result in results)


def doctor_lines(results: Sequence[TestResult]) -> list[str]:
    """The settings that defeat the recipe, per client configuration, with their fixes."""
    lines = []
    for report in _diagnose(results):
        lines.append(f"{report.describe()}:")
        for finding in report.findings:
            lines += [f"  - {finding.problem}", f"    fix: {finding.fix}"]
    return lines


def _verdict_dict(verdict: Verdict, scale: float) -> dict[str, Any]:
    budget = verdict.budget
    return {
        "marker": budget.marker,
        "budget": budget.describe(scale),
        "limit": budget.limit * (scale if budget.field else 1.0),
        "percentile": budget.percentile,
        "warm": budget.warm,
        "status": verdict.status,
        "observed": verdict.observed,
        "reason": verdict.reason,
    }


def write_json(
    path: str, results: Sequence[TestResult], *, mode: str, scale: float, enforced: bool
) -> None:
    """Every record of every test, and every verdict, to ``path`` (written atomically)."""
    document = {
        "format": JSON_FORMAT_VERSION,
        "mode": mode,
        "budget_scale": scale,
        "budgets_enforced": enforced,
        "doctor": [
            {
                "client": asdict(report.pool),
                "tests": report.tests,
                "findings": [asdict(finding) for finding in report.findings],
            }
            for report in _diagnose(results)
        ],
        "tests": [
            {
                "nodeid": result.nodeid,
                "verdict": result.verdict,
                "budgets": [_verdict_dict(v, scale) for v in result.verdicts],
                "unmatched": result.unmatched,
                "requests": [r.to_dict() for r in result.requests],
            }
            for result in results
            if result.reportable
        ],
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def junit_properties(result: TestResult) -> list[tuple[str, object]]:
    """Values for ``record_property`` (JUnit XML ``<property>`` elements)."""
    ttfbs = _ttfbs(result)
    properties: list[tuple[str, object]] = [
        ("ttfb_requests", len(result.requests)),
        ("ttfb_new_connections", result.new_connections),
    ]
    if ttfbs:
        properties += [
            ("ttfb_p50_ms", round(nearest_rank(ttfbs, 50), 3)),
            ("ttfb_max_ms", round(max(ttfbs), 3)),
        ]
    if result.verdicts:
        properties.append(("ttfb_verdict", result.verdict))
    return properties
