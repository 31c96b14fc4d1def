"""Factories for format-2 test data: records, test entries and run metadata as the
plugin will hand them to ``build_document`` (plain dicts)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_ttfb.report.document import build_document


def record(ttfb_ms: float | None = 100.0, **fields: Any) -> dict[str, Any]:
    """A call-phase request on a reused HTTP/2 connection, unless ``fields`` say otherwise."""
    data: dict[str, Any] = {
        "method": "POST",
        "url": "https://api.anthropic.com/v1/messages",
        "status": 200,
        "http_version": "HTTP/2",
        "reused": True,
        "connection_id": "w0-c1",
        "pool_wait_ms": 0.1,
        "dns_ms": None,
        "connect_ms": None,
        "tls_ms": None,
        "sent_ms": 0.5,
        "ttfb_ms": ttfb_ms,
        "first_token_ms": None,
        "first_body_byte_ms": None if ttfb_ms is None else ttfb_ms + 1.0,
        "total_ms": None if ttfb_ms is None else ttfb_ms + 5.0,
        "error": None,
        "attempt": None,
        "when": "call",
        "late": False,
        "started_at": 1000.0,
        "started_wall": "2025-03-14T09:15:00.000000+00:00",
        "new_connection": False,
        "pool": None,
    }
    data.update(fields)
    return data


def cold(ttfb_ms: float, **fields: Any) -> dict[str, Any]:
    """A request that opened its connection."""
    return record(
        ttfb_ms,
        reused=False,
        new_connection=True,
        dns_ms=1.0,
        connect_ms=20.0,
        tls_ms=40.0,
        **fields,
    )


def entry(nodeid: str, requests: Iterable[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nodeid": nodeid,
        "outcome": "passed",
        "verdict": "-",
        "budgets": [],
        "unmatched": [],
        "requests": list(requests),
    }
    data.update(fields)
    return data


def run_meta(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "started": "2025-03-14T09:15:00+00:00",
        "duration_ms": 1234.5,
        "plugin_version": "0.1.0",
        "python": "3.11.9",
        "platform": "Linux-6.1-x86_64",
        "machine_id": "Linux-CPython-3.11-64bit",
        "packages": {"httpx": "0.28.1"},
        "mode": "emulate",
        "rtt_ms": 50.0,
        "jitter_ms": None,
        "regions": {},
        "first_token_rule": "content_block_delta",
        "base_url": None,
        "xdist_workers": 0,
        "budget_scale": 1.0,
        "budgets_enforced": True,
    }
    data.update(fields)
    return data


def document(tests: Iterable[dict[str, Any]], **run_fields: Any) -> dict[str, Any]:
    return build_document(run_meta(**run_fields), list(tests))


def ttfb_doc(latencies: dict[str, list[float]], **run_fields: Any) -> dict[str, Any]:
    """A document with one test per node id, one warm request per latency."""
    return document(
        (entry(nodeid, [record(v) for v in values]) for nodeid, values in latencies.items()),
        **run_fields,
    )
