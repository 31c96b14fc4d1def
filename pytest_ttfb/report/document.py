"""document: the format-2 JSON report, built from plain dicts, and its schema.

Everything here takes and returns plain data (the records and tests as dicts), so the
plugin can call it from wherever its internals live, and baselines saved by one
version can be read by the next. The schema of the document ships beside this module
(``schema/report-2.schema.json``); ``load_schema()`` reads it.

What ``build_document`` adds to what the caller gives:

- per test: ``new_connections`` (records, every phase, that opened their connection),
  ``http_versions`` (sorted, distinct), ``errors`` (records, every phase, with an
  ``error``), and ``stats`` / ``stats_warm`` / ``stats_cold``: summaries per metric over
  the *counted* records: call phase and not late (setup, teardown and late records stay
  listed in ``requests``, not counted). ``stats_warm`` counts only records on a reused
  connection (``reused`` true), ``stats_cold`` only those that opened one
  (``new_connection`` true); mock mode's records (``reused`` null, no connection) are in
  neither. The gates' ``.warm`` / ``.cold`` metrics read these.
- ``session``: over the final attempt of each test: ``tests``, ``requests`` (every
  record), ``new_connections``, and ``stats`` over the counted records.
- ``endpoints``: per ``"METHOD host/path"`` (ids collapsed, query dropped), over the
  counted records of final attempts: ``requests`` (those records) and ``stats``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..stats import summarise

__all__ = [
    "BASE_METRICS",
    "FORMAT",
    "OPTIONAL_METRICS",
    "build_document",
    "counted",
    "endpoint_key",
    "final_tests",
    "load_schema",
    "machine_id",
    "package_versions",
    "sanitise",
    "write_document",
]

FORMAT = 2

BASE_METRICS = ("ttfb_ms", "first_token_ms", "total_ms", "connect_ms")
"""Metrics every ``stats`` block holds (``count`` 0 when no record has them)."""

OPTIONAL_METRICS = ("itl_ms", "tpot_ms", "tokens_per_s")
"""Metrics a test's ``stats`` holds only when one of its records carries them (streams)."""

PACKAGES = ("httpx", "httpx2", "anthropic", "openai")


def machine_id() -> str:
    """pytest-benchmark's machine id: ``Linux-CPython-3.11-64bit``.

    No host name, so every CI runner of one kind finds the same baselines.
    """
    bits = struct.calcsize("P") * 8
    major, minor = sys.version_info[:2]
    return f"{platform.system()}-{platform.python_implementation()}-{major}.{minor}-{bits}bit"


def package_versions() -> dict[str, str]:
    """Versions of the HTTP stacks and SDKs that are installed, by distribution metadata
    (none is imported: importing an SDK can be slow, and has side effects)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def sanitise(value: Any) -> Any:
    """A copy of ``value`` (JSON-like data) with every non-finite float as ``None``:
    JSON has no NaN or infinity, and a reader choking on one would lose the whole run.
    Tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): sanitise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [sanitise(item) for item in value]
    return value


# One path segment that is an id, not a route: collapsed so that one endpoint's calls
# land in one row. Digits, UUIDs, hex of 8+ characters, and the prefixed ids of the
# Anthropic and OpenAI APIs (msg_01XF..., req_..., msgbatch_..., chatcmpl-...).
_ID_SEGMENT = re.compile(
    r"""
    \d+
    | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}
    | [0-9a-fA-F]{8,}
    | (?:msg|req|msgbatch|toolu|srvtoolu|file|batch|run|thread|asst|resp)_[A-Za-z0-9]+
    | chatcmpl-[A-Za-z0-9]+
    """,
    re.VERBOSE,
)


def endpoint_key(method: str, url: str) -> str:
    """``"POST api.anthropic.com/v1/messages"``: the method, host (and port when the URL
    names one; never user or password), and path with ids as ``{id}``; query and
    fragment dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: keep the URL's host alone
        port = None
    if port is not None:
        host = f"{host}:{port}"
    segments = ["{id}" if _ID_SEGMENT.fullmatch(s) else s for s in parts.path.split("/")]
    path = "/".join(segments) or "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{method.upper()} {host}{path}"


def counted(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records statistics count: made in the call phase, and not late."""
    return [r for r in records if r.get("when", "call") == "call" and not r.get("late", False)]


def _values(records: Iterable[Mapping[str, Any]], metric: str) -> list[float | None]:
    values: list[float | None] = []
    for record in records:
        value = record.get(metric)
        if isinstance(value, list):  # itl_ms: every gap of every request is a sample
            values += value
        else:
            values.append(value)
    return values


def _stats(
    records: Sequence[Mapping[str, Any]], optional: Iterable[str] = ()
) -> dict[str, dict[str, float | int | None]]:
    return {metric: summarise(_values(records, metric)) for metric in (*BASE_METRICS, *optional)}


def _present(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The optional metrics some record carries (any phase: a test whose only stream ran
    in setup still shows the metric, with ``count`` 0)."""
    records = list(records)
    return [m for m in OPTIONAL_METRICS if any(r.get(m) is not None for r in records)]


def _test_entry(test: Mapping[str, Any], final: bool) -> dict[str, Any]:
    if "nodeid" not in test:
        raise ValueError(f"a test without a nodeid: {sorted(test)}")
    if "outcome" not in test:
        raise ValueError(f"test {test['nodeid']!r} has no outcome")
    entry: dict[str, Any] = {
        "attempt": 1,
        "verdict": "-",
        "budgets": [],
        "unmatched": [],
        "requests": [],
        **test,
    }
    entry["final"] = bool(test.get("final", final))
    records = entry["requests"]
    calls = counted(records)
    optional = _present(records)
    entry["new_connections"] = sum(1 for r in records if r.get("new_connection"))
    entry["http_versions"] = sorted({r["http_version"] for r in records if r.get("http_version")})
    entry["errors"] = sum(1 for r in records if r.get("error"))
    entry["stats"] = _stats(calls, optional)
    entry["stats_warm"] = _stats([r for r in calls if r.get("reused") is True], optional)
    entry["stats_cold"] = _stats([r for r in calls if r.get("new_connection") is True], optional)
    return entry


def final_tests(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The final attempt of each test of a format-2 document, by node id."""
    return {t["nodeid"]: t for t in document.get("tests", []) if t.get("final", True)}


def build_document(
    run: Mapping[str, Any],
    tests: Sequence[Mapping[str, Any]],
    doctor: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The format-2 report of a run (see the module docstring for what is computed).

    ``run`` is the run metadata; ``machine_id`` and ``packages`` are filled in when it
    lacks them. ``tests`` holds one dict per test attempt (``nodeid``, ``outcome``,
    ``verdict``, ``budgets``, ``unmatched``, ``requests``, ``attempt``, ``final``);
    ``attempt`` defaults to 1, and ``final`` to "the highest attempt of that node id".
    ``doctor`` is passed through. Nothing given is modified; non-finite numbers in it
    come out as ``None``. Raises ValueError for a test without ``nodeid`` or ``outcome``.
    """
    last_attempt: dict[str, int] = {}
    for test in tests:
        nodeid = test.get("nodeid")
        if isinstance(nodeid, str):
            last_attempt[nodeid] = max(last_attempt.get(nodeid, 0), int(test.get("attempt", 1)))
    entries = [
        _test_entry(
            sanitise(test),
            int(test.get("attempt", 1)) == last_attempt.get(str(test.get("nodeid")), 1),
        )
        for test in tests
    ]
    finals = [t for t in entries if t["final"]]
    final_records = [r for t in finals for r in t["requests"]]
    calls = counted(final_records)

    by_endpoint: dict[str, list[Mapping[str, Any]]] = {}
    for record in calls:
        key = endpoint_key(str(record.get("method", "?")), str(record.get("url", "")))
        by_endpoint.setdefault(key, []).append(record)

    run_dict: dict[str, Any] = sanitise(run)
    run_dict.setdefault("machine_id", machine_id())
    run_dict.setdefault("packages", package_versions())
    return {
        "format": FORMAT,
        "run": run_dict,
        "tests": entries,
        "session": {
            "tests": len(finals),
            "requests": len(final_records),
            "new_connections": sum(t["new_connections"] for t in finals),
            "stats": _stats(calls, _present(final_records)),
        },
        "endpoints": [
            {"endpoint": key, "requests": len(records), "stats": _stats(records, _present(records))}
            for key, records in sorted(by_endpoint.items())
        ],
        "doctor": sanitise(list(doctor or [])),
    }


def write_document(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write ``document`` as JSON to ``path``, atomically (a temporary file beside it,
    then ``os.replace``: a reader never sees half a report). Directories are created.
    Non-finite numbers are written as ``null``; ``allow_nan=False`` makes any that
    slipped through an error rather than invalid JSON."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.tmp{os.getpid()}")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(sanitise(document), handle, indent=2, allow_nan=False)
            handle.write("\n")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the format-2 document, as shipped."""
    text = (
        resources.files("pytest_ttfb.report")
        .joinpath("schema/report-2.schema.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
