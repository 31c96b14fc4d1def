"""json: the ``--ttfb-json`` report: every record of every test, and every verdict."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..budgets.judge import Verdict
from ..doctor import diagnose
from ..results import TestResult

__all__ = ["JSON_FORMAT_VERSION", "write_json"]

JSON_FORMAT_VERSION = 1


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
    """Every record of every test, and every verdict, to ``path`` (written atomically).
    A test run more than once (pytest-rerunfailures) has one entry per attempt, each
    with its own requests; ``final`` marks the attempt whose outcome pytest kept."""
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
            for report in diagnose((result.nodeid, result.requests) for result in results)
        ],
        "tests": [
            {
                "nodeid": result.nodeid,
                "attempt": result.attempt,
                "final": result.final,
                "outcome": result.outcome,
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
