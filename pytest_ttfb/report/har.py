"""HAR 1.2 export of a format-2 report document.

`build_har(document)` turns the plain dict the JSON report holds (``"format": 2``) into a
HAR 1.2 log; `write_har(path, document)` writes it atomically. Open the file in a
browser's network panel, or any HAR viewer, to see every request a test made as a
waterfall.

What goes in: one page per test entry of the document (id ``page_N``, title the node
id), one entry per request record. What never goes in: headers, cookies, query
parameters and bodies. The plugin records none of them, and the HAR arrays for them are
left empty, so nothing secret can leak through this file; URLs are written as recorded,
already redacted.

Timings. The record's ``*_ms`` marks are cumulative from the moment the request entered
the transport (curl's ``-w`` timers); HAR wants durations. With ``pw, dns, tcp, tls,
sent, ttfb, total`` the marks ``pool_wait_ms, dns_ms, connect_ms, tls_ms, sent_ms,
ttfb_ms, total_ms``, and "previous" the latest earlier mark that is present (0 for the
first):

=========  ==============================================  ==============================
HAR        from the record                                  when the phase did not happen
=========  ==============================================  ==============================
blocked    ``pw``                                           -1 (``pw`` is null)
dns        ``dns - pw``                                     -1 (reused connection, no dns)
connect    ``(tls or tcp) - (dns or pw)``: TCP *and* TLS,   -1 (reused connection)
           as HAR defines it
ssl        ``tls - tcp`` (also counted inside ``connect``)  -1 (plain HTTP or reused)
send       ``sent - previous``                              0 (HAR forbids -1 here)
wait       ``ttfb - sent``                                  0
receive    ``total - ttfb``                                 0
=========  ==============================================  ==============================

A negative difference (clocks that disagree by a rounding error) is clamped to 0, and a
mark that is not a finite number counts as null. ``entry.time`` is the sum of the
non-negative timings except ``ssl``, which HAR counts inside ``connect``; for a request
that completed it equals ``total_ms``.

A failed request stops in the middle: some marks are null and ``total_ms`` (when the
error was raised) may still be set. The time from the last mark present to ``total_ms``
goes to the phase that was under way, so that ``entry.time`` still equals ``total_ms``:
after ``ttfb`` it is ``receive``, after ``sent`` ``wait``, after ``tls`` ``send``, after
``tcp`` ``ssl`` for an ``https`` URL (and so ``connect`` too) and ``send`` otherwise,
after ``dns`` ``connect``, after ``pw`` ``send`` on a reused connection and ``connect``
otherwise (a name that did not resolve included: the dns mark is set only on success),
and with no mark at all ``blocked``.

``response.status`` is 0 when there was no response (as browsers write it),
``content.size`` is 0 and ``bodySize`` -1: the plugin does not count body bytes (HAR
has no "unknown" value for ``content.size``; ``bodySize`` -1 says it is not known).

Custom fields (HAR lets a tool add fields starting with ``_``) on each entry:
``_first_token_ms`` (a cumulative mark, like ``total_ms``), ``_first_body_byte_ms``,
``_itl_ms`` (inter-token latencies, when recorded), ``_tpot_ms``, ``_tokens_per_s``,
``_output_tokens`` (when recorded), ``_reused`` (true, false, or null when no connection
was obtained), ``_new_connection``, ``_attempt``, ``_when`` (setup, call or teardown),
``_late`` and ``_error``. Each page has ``_attempt``, ``_outcome`` and ``_verdict``.

Nothing but the standard library is imported: the document is a plain dict, so
the file can be written from a saved format-2 JSON report too::

    import json
    from pytest_ttfb.report.har import write_har

    with open("ttfb.json", encoding="utf-8") as f:
        write_har("ttfb.har", json.load(f))
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PHASES", "Phase", "build_har", "request_phases", "write_har"]

PHASES: tuple[str, ...] = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")
"""The phases of a request, in order. ``connect`` here is TCP only; HAR's includes ssl."""

# Each phase ends at one mark of the record.
_MARKS: tuple[tuple[str, str], ...] = (
    ("blocked", "pool_wait_ms"),
    ("dns", "dns_ms"),
    ("connect", "connect_ms"),
    ("ssl", "tls_ms"),
    ("send", "sent_ms"),
    ("wait", "ttfb_ms"),
)


@dataclass(frozen=True)
class Phase:
    """One phase of one request: ``start_ms`` to ``end_ms`` since it entered the transport.

    ``connect`` is the TCP connect alone here; ``ssl`` follows it. ``failed`` is true for
    the phase a failed request was in when the error was raised.
    """

    name: str
    start_ms: float
    end_ms: float
    failed: bool = False

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


def number(value: object) -> float | None:
    """`value` as a finite float, or None (null, a bool, NaN, infinity, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _in_flight(last: str | None, record: Mapping[str, Any]) -> str:
    """The phase a failed request was in, given the name of the last phase it finished."""
    if last is None:
        return "blocked"
    if last == "blocked":
        return "send" if record.get("reused") is True else "connect"
    if last == "dns":
        return "connect"
    if last == "connect":
        url = record.get("url")
        return "ssl" if isinstance(url, str) and url.lower().startswith("https:") else "send"
    if last == "ssl":
        return "send"
    if last == "send":
        return "wait"
    return "receive"


def request_phases(record: Mapping[str, Any]) -> list[Phase]:
    """The phases a request went through, in order, from its cumulative marks.

    A phase that did not happen is absent. Each phase starts where the previous one
    ended, so the phases tile ``[0, total_ms]`` without gaps for a request that
    completed. See the module docstring for how a failed request is split.
    """
    phases: list[Phase] = []
    previous = 0.0
    last: str | None = None
    for name, key in _MARKS:
        mark = number(record.get(key))
        if mark is None:
            continue
        end = max(mark, previous)
        phases.append(Phase(name, previous, end))
        previous, last = end, name
    total = number(record.get("total_ms"))
    if total is not None:
        end = max(total, previous)
        if last == "wait":
            phases.append(Phase("receive", previous, end))
        elif end > previous:
            phases.append(Phase(_in_flight(last, record), previous, end, failed=True))
    return phases


def _ms(value: float) -> float:
    return round(value, 3)


def har_timings(record: Mapping[str, Any]) -> dict[str, float]:
    """HAR 1.2 ``timings`` of one record: -1 for blocked/dns/connect/ssl that did not
    happen, 0 for send/wait/receive that did not (HAR requires them non-negative)."""
    durations: dict[str, float] = {}
    for phase in request_phases(record):
        durations[phase.name] = durations.get(phase.name, 0.0) + phase.duration_ms
    tcp = durations.get("connect")
    ssl = durations.get("ssl")
    connect = None if tcp is None and ssl is None else (tcp or 0.0) + (ssl or 0.0)
    return {
        "blocked": _ms(durations["blocked"]) if "blocked" in durations else -1,
        "dns": _ms(durations["dns"]) if "dns" in durations else -1,
        "connect": _ms(connect) if connect is not None else -1,
        "ssl": _ms(ssl) if ssl is not None else -1,
        "send": _ms(durations.get("send", 0.0)),
        "wait": _ms(durations.get("wait", 0.0)),
        "receive": _ms(durations.get("receive", 0.0)),
    }


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _entry(record: Mapping[str, Any], pageref: str, page_started: str) -> dict[str, Any]:
    timings = har_timings(record)
    time = _ms(sum(v for k, v in timings.items() if k != "ssl" and v >= 0))
    http_version = _text(record.get("http_version"))
    entry: dict[str, Any] = {
        "pageref": pageref,
        "startedDateTime": _text(record.get("started_wall")) or page_started,
        "time": time,
        "request": {
            "method": _text(record.get("method"), "GET"),
            "url": _text(record.get("url")),
            "httpVersion": http_version,
            "cookies": [],
            "headers": [],
            "queryString": [],
            "headersSize": -1,
            "bodySize": -1,
        },
        "response": {
            "status": _integer(record.get("status")) or 0,
            "statusText": "",
            "httpVersion": http_version,
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": timings,
    }
    connection = record.get("connection_id")
    if isinstance(connection, str):
        entry["connection"] = connection
    for key in ("first_token_ms", "first_body_byte_ms", "tpot_ms", "tokens_per_s"):
        value = number(record.get(key))
        if value is not None:
            entry[f"_{key}"] = _ms(value)
    itl = record.get("itl_ms")
    if isinstance(itl, Sequence) and not isinstance(itl, str):
        entry["_itl_ms"] = [_ms(v) for v in (number(x) for x in itl) if v is not None]
    output_tokens = _integer(record.get("output_tokens"))
    if output_tokens is not None:
        entry["_output_tokens"] = output_tokens
    reused = record.get("reused")
    entry["_reused"] = reused if isinstance(reused, bool) else None
    entry["_new_connection"] = record.get("new_connection") is True
    entry["_attempt"] = _integer(record.get("attempt"))
    entry["_when"] = _text(record.get("when"), "call")
    entry["_late"] = record.get("late") is True
    error = record.get("error")
    entry["_error"] = error if isinstance(error, str) else None
    return entry


def _records(test: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    requests = test.get("requests")
    if not isinstance(requests, Sequence):
        return []
    return [r for r in requests if isinstance(r, Mapping)]


def build_har(document: Mapping[str, Any]) -> dict[str, Any]:
    """A HAR 1.2 log (``{"log": {...}}``) of a format-2 report document.

    One page per test (id ``page_1``, ``page_2``, ... in document order; title the node
    id; started when its first request started, or when the run started if it made
    none), one entry per request. The result holds only finite numbers, so
    ``json.dumps(result, allow_nan=False)`` always works.
    """
    run = document.get("run")
    run = run if isinstance(run, Mapping) else {}
    run_started = _text(run.get("started"), "1970-01-01T00:00:00Z")
    pages: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    tests = document.get("tests")
    for index, test in enumerate(tests if isinstance(tests, Sequence) else [], start=1):
        if not isinstance(test, Mapping):
            continue
        page_id = f"page_{index}"
        records = _records(test)
        started = next(
            (r["started_wall"] for r in records if isinstance(r.get("started_wall"), str)),
            run_started,
        )
        pages.append(
            {
                "startedDateTime": started,
                "id": page_id,
                "title": _text(test.get("nodeid")),
                "pageTimings": {"onContentLoad": -1, "onLoad": -1},
                "_attempt": _integer(test.get("attempt")),
                "_outcome": _text(test.get("outcome")),
                "_verdict": _text(test.get("verdict")),
            }
        )
        entries.extend(_entry(record, page_id, started) for record in records)
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "pytest-ttfb", "version": _text(run.get("plugin_version"))},
            "pages": pages,
            "entries": entries,
        }
    }


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file in the same directory
    and `os.replace`, so a reader never sees half a file. Directories are created."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_har(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write `build_har(document)` to `path` as UTF-8 JSON, atomically (temporary file,
    then `os.replace`). Raises `OSError` when the file cannot be written."""
    text = json.dumps(build_har(document), indent=1, ensure_ascii=False, allow_nan=False)
    write_atomically(path, text + "\n")
