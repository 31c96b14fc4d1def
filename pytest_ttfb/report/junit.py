"""junit: per-test values for JUnit XML ``<property>`` elements."""

from __future__ import annotations

from ..results import TestResult
from ..stats import nearest_rank

__all__ = ["junit_properties"]


def junit_properties(result: TestResult) -> list[tuple[str, object]]:
    """Values for ``record_property`` (JUnit XML ``<property>`` elements)."""
    ttfbs = result.ttfb_values
    tokens = [r.first_token_ms for r in result.requests if r.first_token_ms is not None]
    properties: list[tuple[str, object]] = [
        ("ttfb_requests", len(result.requests)),
        ("ttfb_new_connections", result.new_connections),
    ]
    if ttfbs:
        properties += [
            ("ttfb_p50_ms", round(nearest_rank(ttfbs, 50), 3)),
            ("ttfb_p95_ms", round(nearest_rank(ttfbs, 95), 3)),
            ("ttfb_max_ms", round(max(ttfbs), 3)),
        ]
    if tokens:
        properties.append(("ttfb_first_token_p50_ms", round(nearest_rank(tokens, 50), 3)))
    if result.verdicts:
        properties.append(("ttfb_verdict", result.verdict))
    return properties
