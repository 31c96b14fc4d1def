"""failure: the text that fails a test: unmatched requests, plugin errors, breaches."""

from __future__ import annotations

import collections
from collections.abc import Sequence

from ..budgets.explain import describe_failure
from ..results import TestResult
from ..settings import Settings

__all__ = ["describe_unmatched", "failure_text"]


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


def failure_text(
    result: TestResult,
    failures: Sequence[str],
    scale: float,
    *,
    settings: Settings | None = None,
) -> str:
    """Why the plugin fails this test, or "": requests no route matched, the plugin's
    own errors, and breached budgets (when they are enforced). ``settings`` gives the
    hints the mode."""
    parts = [describe_unmatched(result.unmatched), *dict.fromkeys(failures)]
    if result.enforced and any(v.status == "fail" for v in result.verdicts):
        parts.append(describe_failure(result.verdicts, result.requests, scale, settings=settings))
    return "\n\n".join(part for part in parts if part)
