"""inflight: the raw marks of one request in flight, and the record built from them.

The transport fills an ``InFlight`` on the hot path with bare attribute stores;
``timing()`` turns it into a ``RequestTiming`` later (when ``ttfb.requests`` is read,
or the test ends), because building the record and its URL text on every request
costs more than everything else pytest-ttfb does per request.
"""

from __future__ import annotations

import contextvars
import itertools
from dataclasses import dataclass
from time import perf_counter, time
from typing import Any

from ..redact import redact_url
from .record import PoolSettings, RequestTiming
from .scanner import FIELD_INITIALS, FirstTokenScanner, first_token_rule

__all__ = [
    "Connection",
    "InFlight",
    "connection_prefix",
    "current",
    "opened",
    "pool_settings",
    "short_error",
]


class InFlight:
    """One request in flight, then its raw marks until someone reads the record."""

    __slots__ = (
        "connect_end",
        "connect_start",
        "dns_end",
        "end",
        "error",
        "extensions",
        "first_body",
        "first_token",
        "headers",
        "headers_at",
        "method",
        "pool",
        "record",
        "sent",
        "start",
        "status",
        "tls_end",
        "url",
        "when",
    )

    def __init__(self, start: float, request: Any, pool: PoolSettings | None, when: str) -> None:
        self.start = start
        self.method = request.method
        self.url = request.url  # the httpx URL object: turned into text only when read
        self.headers = request.headers  # read only when the record is built
        self.pool = pool
        self.when = when
        self.connect_start: float | None = None
        self.dns_end: float | None = None
        self.connect_end: float | None = None
        self.tls_end: float | None = None
        self.sent: float | None = None
        self.headers_at: float | None = None
        self.first_body: float | None = None
        self.first_token: float | None = None
        self.end: float | None = None
        self.error: str | None = None
        self.status: int | None = None
        self.extensions: dict[str, Any] = {}
        self.record: RequestTiming | None = None

    def timing(self) -> RequestTiming:
        """The record, built once; later marks (body closed) are copied into it."""
        if self.record is not None:
            return self.record
        start = self.start
        stream = self.extensions.get("network_stream")
        connection: Connection | None = getattr(stream, "ttfb_connection", None)
        if connection is not None:
            reused = connection.opened_by is not self
            connection_id: str | None = connection.id
        else:
            # Mocked (no stream), or a connection opened before the client was watched.
            reused = stream is not None
            connection_id = None
        version = self.extensions.get("http_version")
        method = self.method
        self.record = RequestTiming(
            method=method if isinstance(method, str) else method.decode(),
            url=redact_url(str(self.url)),
            status=self.status,
            http_version=version.decode("ascii") if isinstance(version, bytes) else version,
            reused=reused,
            connection_id=connection_id,
            pool_wait_ms=_ms(start, self.sent if reused else self.connect_start or self.sent),
            dns_ms=None if reused else _ms(start, self.dns_end),
            connect_ms=None if reused else _ms(start, self.connect_end),
            tls_ms=None if reused else _ms(start, self.tls_end),
            sent_ms=_ms(start, self.sent),
            ttfb_ms=_ms(start, self.headers_at),
            first_token_ms=_ms(start, self.first_token),
            first_body_byte_ms=_ms(start, self.first_body),
            attempt=_attempt(self.headers),
            total_ms=_ms(start, self.end),
            error=self.error,
            started_at=start,
            when=self.when,
            pool=self.pool,
            started_unix=time() - (perf_counter() - start),
        )
        return self.record

    def finish(self, error: BaseException | None = None) -> None:
        """The body is closed (or the request failed): stamp the end, once."""
        if self.end is not None:
            return
        self.end = perf_counter()
        if error is not None:
            self.error = short_error(error)
        if self.record is not None:  # already read: keep it current
            self.record.total_ms = _ms(self.start, self.end)
            self.record.error = self.error

    def body_chunk(
        self, scanner: FirstTokenScanner | None, chunk: bytes
    ) -> FirstTokenScanner | None:
        """Stamp the first body byte and the first token. Called with ``None`` for the
        first chunk, then with what it handed back until that is ``None`` (the token
        found, or the body is no stream of events)."""
        if scanner is None:
            self.first_body = perf_counter()
            head = chunk.lstrip(b"\xef\xbb\xbf\r\n")
            if head and head[:1] not in FIELD_INITIALS:  # JSON and the like: done
                return None
            scanner = FirstTokenScanner(first_token_rule.name)
        found = scanner.feed(chunk)
        if found is False:
            return scanner
        if found:
            self.first_token = perf_counter()
            if self.record is not None:
                self.record.first_token_ms = _ms(self.start, self.first_token)
        return None


# httpcore does a request's network I/O in the caller's thread or task, so a
# ContextVar set by the transport reaches the backend and streams below it.
current: contextvars.ContextVar[InFlight | None] = contextvars.ContextVar(
    "pytest_ttfb_inflight", default=None
)
_connection_ids = itertools.count(1)


class _ConnectionPrefix:
    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = "c"


# "c" in a plain run; "gw0-c" on a pytest-xdist worker, so ids are unique in its reports.
connection_prefix = _ConnectionPrefix()


@dataclass(slots=True)
class Connection:
    """One TCP connection opened through an instrumented pool."""

    id: str
    opened_by: InFlight | None


def _ms(start: float, mark: float | None) -> float | None:
    return None if mark is None else (mark - start) * 1000.0


def opened(started: float, resolved: float | None) -> Connection:
    """Stamp the request in flight with its connect phases; name the new connection."""
    request = current.get()
    if request is not None:
        request.connect_start = started
        request.dns_end = resolved
        request.connect_end = perf_counter()
    return Connection(f"{connection_prefix.text}{next(_connection_ids)}", request)


def _attempt(headers: Any) -> int | None:
    """Which try this request was, from the header the Anthropic and OpenAI SDKs send
    on every request (``x-stainless-retry-count``: retries taken so far)."""
    retries = headers.get("x-stainless-retry-count")
    try:
        return int(retries) + 1 if retries is not None else None
    except ValueError:
        return None


def short_error(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its text."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def pool_settings(pool: Any) -> PoolSettings | None:
    """What an httpcore (or httpcore2) connection pool was configured with, and which
    client package it serves. Called once per transport, never per request."""
    import sys  # once per transport: where it is imported does not matter

    if pool is None or not hasattr(pool, "_keepalive_expiry"):
        return None
    limit = getattr(pool, "_max_connections", None)
    if limit is not None and limit >= sys.maxsize:  # httpcore's stand-in for "no limit"
        limit = None
    package = type(pool).__module__.split(".")[0]
    return PoolSettings(
        http2=bool(getattr(pool, "_http2", False)),
        max_connections=limit,
        keepalive_expiry=getattr(pool, "_keepalive_expiry", None),
        stack={"httpcore": "httpx", "httpcore2": "httpx2"}.get(package, package),
    )
