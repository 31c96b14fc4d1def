"""build: the run's results as the format-2 document every file report is drawn from.

The JSON report, saved baselines, the HAR file and the HTML page all come from this one
document (``report.document`` computes its statistics), so they cannot disagree.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ..doctor import diagnose
from ..measure.record import RequestTiming
from ..redact import redact_url
from ..results import TestResult
from ..settings import Settings
from .document import build_document, machine_id, package_versions

__all__ = ["attempt_entry", "iso_utc", "run_document", "run_metadata"]


def iso_utc(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def run_metadata(
    settings: Settings, *, started: float, ended: float, version: str, workers: int
) -> dict[str, Any]:
    """The ``run`` block: when, where, with what, and under which settings."""
    emulated = settings.mode == "emulate"
    return {
        "started": iso_utc(started),
        "duration_ms": (ended - started) * 1000.0,
        "plugin_version": version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine_id": machine_id(),
        "packages": package_versions(),
        "mode": settings.mode,
        "rtt_ms": settings.rtt_ms if emulated else None,
        "jitter_ms": settings.jitter_ms if emulated else None,
        "regions": dict(settings.regions) if emulated else {},
        "first_token_rule": settings.first_token,
        "base_url": redact_url(settings.base_url) if settings.base_url else None,
        "xdist_workers": workers,
        "budget_scale": settings.budget_scale,
        "budgets_enforced": settings.enforce_budgets,
    }


def _record(record: RequestTiming) -> dict[str, Any]:
    data = record.to_dict()
    data["late"] = bool(getattr(record, "late", False))
    data["started_wall"] = iso_utc(record.started_unix)
    return data


def _verdict(result: TestResult, scale: float) -> list[dict[str, Any]]:
    entries = []
    for verdict in result.verdicts:
        budget = verdict.budget
        entries.append(
            {
                "marker": budget.marker,
                "budget": budget.describe(scale),
                "limit": budget.scaled(scale),
                "percentile": budget.percentile,
                "warm": budget.warm,
                "cold": budget.cold,
                "warmup": budget.warmup,
                "rule": budget.rule,
                "status": verdict.status,
                "observed": verdict.observed,
                "reason": verdict.reason,
            }
        )
    return entries


def attempt_entry(result: TestResult, scale: float) -> dict[str, Any]:
    """One test attempt as the document lists it."""
    return {
        "nodeid": result.nodeid,
        "attempt": getattr(result, "attempt", 1),
        # As the run knew it: a later attempt that recorded nothing is not listed, and
        # must not make this one look final.
        "final": getattr(result, "final", True),
        "outcome": getattr(result, "outcome", None) or "passed",
        "verdict": result.verdict,
        "budgets": _verdict(result, scale),
        "unmatched": list(result.unmatched),
        "requests": [_record(r) for r in result.requests],
    }


def run_document(
    results: Sequence[TestResult],
    settings: Settings,
    *,
    started: float,
    ended: float,
    version: str,
    workers: int,
) -> dict[str, Any]:
    """The format-2 document of a run: the tests that recorded a request or declared a
    budget, their statistics, the session and endpoint rows, the doctor's findings."""
    reportable = [r for r in results if r.reportable]
    doctor = [
        {
            "client": asdict(report.pool),
            "tests": report.tests,
            "findings": [asdict(finding) for finding in report.findings],
        }
        for report in diagnose((r.nodeid, r.requests) for r in reportable)
    ]
    run = run_metadata(settings, started=started, ended=ended, version=version, workers=workers)
    tests = [attempt_entry(result, settings.budget_scale) for result in reportable]
    return build_document(run, tests, doctor)
