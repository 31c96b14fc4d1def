"""inflight: the raw marks of one request in flight, and the record built from them.

The transport fills an ``InFlight`` on the hot path with bare attribute stores, and
with text and numbers taken from the request's and response's objects (never the
objects themselves); ``timing()`` turns it into a ``RequestTiming`` later (when
``ttfb.requests`` is read, or the test ends, or every ``COMPACT_AT`` requests), so a
request whose record is never read early costs one small object until then.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from time import perf_counter, time
from typing import Any

from ..redact import redact_url
from ._compiled import compiled
from .record import PoolSettings, RequestTiming
from .scanner import (
    EVENTS,
    FIELD_INITIALS,
    DecodingScanner,
    FirstTokenScanner,
    decoder_for,
    first_token_rule,
)

__all__ = [
    "EXTENSION",
    "Connection",
    "InFlight",
    "build_record",
    "connection_prefix",
    "current",
    "first_chunk",
    "new_flight",
    "opened",
    "pool_settings",
    "short_error",
    "write_stamper",
]


class InFlight:
    """One request in flight, then its raw marks until someone reads the record."""

    __slots__ = (
        "attempt",
        "buffered",
        "connect_end",
        "connect_start",
        "connection",
        "dns_end",
        "end",
        "error",
        "extensions",
        "first_body",
        "first_token",
        "headers_at",
        "method",
        "pool",
        "record",
        "response_headers",
        "scanner",
        "sent",
        "start",
        "status",
        "tls_end",
        "unread",
        "url",
        "version",
        "when",
    )

    def __init__(
        self, start: float | None, request: Any, pool: PoolSettings | None, when: str
    ) -> None:
        """``start``: when the request entered the transport (``perf_counter``), or
        None for now, read once the request's URL and headers have been read (a URL
        not seen before costs some microseconds, which are not the request's)."""
        self.method = request.method
        # Text and numbers only, from the request's objects, so that nothing the bare
        # client would free when it is done with a response lives on here until the
        # record is built: objects that outlive a request bring the garbage collector's
        # passes (over the whole heap, now and then) sooner, and httpx2 leaves almost
        # none of its own (tests/test_record_build.py counts them).
        self.url = _url_text(request.url)  # redacted
        self.attempt = _attempt(request.headers)
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
        self.version: bytes | str | None = None  # the response's extensions say
        # The response's extensions, kept until the build only when no watched stream
        # wrote the request (mocked, or on a connection opened before it was watched).
        self.extensions: dict[str, Any] | None = None
        # Read only if the body may be content-encoded; let go when the body ends (the
        # byte stream's close, or ``finish``) or once asked (``_decoding``).
        self.response_headers: Any = None
        # The connection this request opened (set by ``opened()``), else the one its
        # first write went out on (set by the network stream): known even when no
        # response came back.
        self.connection: Connection | None = None
        self.record: RequestTiming | None = None
        self.scanner: FirstTokenScanner | None = None  # the body's, if it is events
        self.buffered = False  # the body came whole, in memory: nothing to watch
        self.unread = False  # the scanner gave up on the body (``unscanned``)
        self.start = perf_counter() if start is None else start

    def timing(self, clock_offset: float | None = None) -> RequestTiming:
        """The record, built once; later marks (first token, body closed) are copied
        into it by whoever stamps them. ``clock_offset``: ``time() - perf_counter()``
        read once for records built together (their ``started_unix``), else read here."""
        if self.record is not None:
            return self.record
        start = self.start
        connection = self.connection
        reused: bool | None = None
        connection_id: str | None = None
        if connection is None:  # no write through a watched stream: look at the response
            extensions = self.extensions or {}
            connection = getattr(extensions.get("network_stream"), "ttfb_connection", None)
            if connection is None and "network_stream" in extensions:
                # A stream that is not ours: a connection opened before the client was
                # watched, so pooled. No stream (reused stays None): mocked, or failed
                # before it got a connection.
                reused = True
        if connection is not None:
            reused = connection.opened_by is not self
            connection_id = connection.id
        version = self.version
        method = self.method
        sent = self.sent
        # Read ``end`` first: it is stamped last (``finish``, ``close``), so once it is
        # set, every other mark is final. Done, with no stream of events to copy, the
        # record is built whole here (the usual request); else ``refresh`` completes it.
        end = self.end
        whole = end is not None and self.scanner is None
        first_body = self.first_body
        first_token = self.first_token
        # Where the request waited for a connection: until it was sent on a pooled one,
        # until its connect began on a new one.
        waited = sent if reused else self.connect_start or sent
        # Positional, in the order of RequestTiming's fields: keywords cost three times
        # as much for its 27 fields (tests/test_record_build.py checks every one).
        # Made, then filled by its own ``__init__`` called directly: calling the class
        # (``type.__call__``) would copy all 27 arguments once more into a new tuple.
        record = _new_record(RequestTiming)
        _fill_record(
            record,
            # One string per method name, not per request (httpx makes a new one each time).
            _METHODS.get(method) or _method_text(method),
            self.url,
            self.status,
            # h11 and h2 give bytes (b"HTTP/1.1"): the text of the usual ones is at hand.
            (_VERSIONS.get(version) or version.decode("ascii"))
            if isinstance(version, bytes)
            else version,
            reused,
            connection_id,
            None if waited is None else (waited - start) * 1000.0,  # pool_wait_ms
            None if reused else _ms(start, self.dns_end),
            None if reused else _ms(start, self.connect_end),
            None if reused else _ms(start, self.tls_end),
            (self.headers_at - start) * 1000.0 if self.headers_at is not None else None,
            # The marks stamped after the headers (``refresh`` copies them if not whole).
            # Inline rather than ``_ms``: these run for every record, the three above
            # only for a new connection.
            None if first_token is None else (first_token - start) * 1000.0,
            None if end is None or not whole else (end - start) * 1000.0,  # total_ms
            self.error,
            None if first_body is None else (first_body - start) * 1000.0,
            self.attempt,
            None if sent is None else (sent - start) * 1000.0,
            start,  # started_at
            self.when,
            self.pool,
            (time() - perf_counter() if clock_offset is None else clock_offset) + start,
            False,  # late
            None,  # stream
            None,  # chunk_ms
            None,  # output_tokens
            None,  # first_token_by_rule
            self.buffered,
        )
        self.record = record
        self.extensions = None
        if whole:
            return record
        # Another thread may be stamping marks while this one builds (a body closing
        # while the test reads ``ttfb.requests``). Each stamper stores its mark, then
        # reads ``record``; this reads the marks again after publishing ``record``. Of
        # two such store-then-load sequences at least one sees the other's store (the
        # interpreter runs them in some single order), so no mark is lost, and no lock
        # is taken on the hot path. Copying twice is harmless: the values are the same.
        self.refresh()
        return record

    def refresh(self) -> None:
        """Copy the marks stamped after the record was built (or while it was)."""
        record = self.record
        if record is None:
            return
        start = self.start
        if self.first_body is not None:
            record.first_body_byte_ms = _ms(start, self.first_body)
        if self.first_token is not None:
            record.first_token_ms = _ms(start, self.first_token)
        scanner = self.scanner
        if scanner is not None:
            # The array itself, not a copy: chunks that come later show in the record.
            # Once the body is done, an exact-size copy instead (a growing array keeps
            # about 1/16 spare): the record keeps 8 bytes a chunk, no more.
            chunks = scanner.chunks
            record.chunk_ms = chunks if self.end is None else chunks[:]
            record.stream = scanner.shape or EVENTS
            record.output_tokens = scanner.output_tokens
            record.first_token_by_rule = scanner.by_rule()
            if self.end is not None:
                self.scanner = None  # copied for the last time: let its buffer go
            if self.unread:  # the scanner gave up meanwhile, in the body's thread
                _drop_stream_figures(record)
        if self.end is not None:
            # ``error`` is stored before ``end`` (``finish``): seen with it.
            record.error = self.error
            record.total_ms = _ms(start, self.end)

    def finish(self, error: BaseException | None = None) -> None:
        """The body is closed (or the request failed): stamp the end, once."""
        if self.end is not None:
            return
        if error is not None:
            self.error = short_error(error)
        self.response_headers = None  # nothing looks into the body once it has ended
        self.end = perf_counter()
        if self.record is not None:  # already read (or being read): keep it current
            self.refresh()

    def unscanned(self) -> None:
        """A chunk of the body could not be read (called as it arrives): no stream
        figures (chunk times, output tokens, first token by rule) for this request; a
        first token already found stays, and the first body byte is this chunk's if
        it was the first."""
        # ``unread`` before the scanner goes: a ``refresh`` in another thread that got
        # the scanner before then copies its figures, then sees ``unread`` and drops
        # them again (or has copied them before the drop below).
        self.unread = True
        self.scanner = None
        if self.first_body is None:
            self.first_body = perf_counter()
        record = self.record
        if record is not None:
            record.first_body_byte_ms = _ms(self.start, self.first_body)
            _drop_stream_figures(record)

    def body_chunk(
        self, scanner: FirstTokenScanner | None, chunk: bytes
    ) -> FirstTokenScanner | None:
        """Stamp the first body byte, and feed the body's events to the scanner (chunk
        times, usage, first tokens). Called with ``None`` for the first chunk, then
        with what it handed back, for every chunk, until that is ``None`` (the body is
        no stream of events)."""
        if scanner is None:
            return self.first_chunk(chunk)
        found = scanner.feed(chunk)  # the hot path: every chunk of a stream
        if found is False:
            return scanner
        return self._fed(scanner, found)

    def first_chunk(self, chunk: bytes) -> FirstTokenScanner | None:
        """``body_chunk(None, chunk)``: stamp the first body byte, then look at the
        body's first bytes. A stream of events gets its scanner, handed back; any other
        body ``None``, unless it is content-encoded (``_decoding``).

        ``inflight.first_chunk`` is ``_record.first_chunk`` where that is built: this,
        in C, for the usual JSON-like body (its headers read where they lie); anything
        else it hands to ``_events`` or ``_decoding`` once it has stamped."""
        self.first_body = perf_counter()
        if self.record is not None:
            self.refresh()
        head = chunk.lstrip(b"\xef\xbb\xbf\r\n")
        if head and head[:1] not in FIELD_INITIALS:  # JSON and the like, or encoded
            return self._decoding(chunk)
        return self._events(chunk)

    def _events(self, chunk: bytes) -> FirstTokenScanner | None:
        """The first chunk of what may be a stream of events: its scanner, fed."""
        scanner = self.scanner = FirstTokenScanner(first_token_rule.name, self.start)
        found = scanner.feed(chunk)
        if found is False:
            return scanner
        return self._fed(scanner, found)

    def _fed(self, scanner: FirstTokenScanner, found: bool | None) -> FirstTokenScanner | None:
        """After a chunk that settled the scanner: a first token (``found``), else no
        stream of events after all (``None``)."""
        if found:
            self._token(scanner)
            return scanner
        if type(scanner) is FirstTokenScanner:  # not events as sent: encoded events?
            self.scanner = None
            return self._decoding(scanner.head)
        # A decoding scanner that stopped decoding (a corrupt body): what it counted
        # before is half of the stream, so none of it is kept.
        self.unscanned()
        return None

    def _token(self, scanner: FirstTokenScanner) -> None:
        self.first_token = scanner.token_at
        if self.record is not None:
            self.refresh()

    def _decoding(self, head: bytes) -> FirstTokenScanner | None:
        """The slow path, for a body whose first bytes are no event stream: when the
        response says it is content-encoded (gzip, deflate, br), scan the decoded
        events instead; ``head`` is every byte of the body received so far."""
        headers = self.response_headers
        self.response_headers = None  # asked once: this is called once a body at most
        encoding = None if headers is None else header_value(headers, b"content-encoding")
        decode = decoder_for(encoding) if encoding else None  # None: the usual JSON body
        if decode is None:
            return None
        scanner = DecodingScanner(first_token_rule.name, decode, self.start)
        found = scanner.feed(head)
        if found is None:
            return None
        self.scanner = scanner
        if found:
            self._token(scanner)
        return scanner


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


def _drop_stream_figures(record: RequestTiming) -> None:
    record.stream = record.chunk_ms = record.output_tokens = None
    record.first_token_by_rule = None


def _ms(start: float, mark: float | None) -> float | None:
    return None if mark is None else (mark - start) * 1000.0


def opened(started: float, resolved: float | None) -> Connection:
    """Stamp the request in flight with its connect phases; name the new connection."""
    request = current.get()
    connection = Connection(f"{connection_prefix.text}{next(_connection_ids)}", request)
    if request is not None:
        request.connect_start = started
        request.dns_end = resolved
        request.connect_end = perf_counter()
        # Even if the request then fails (reset, closed, timed out), it opened this one.
        request.connection = connection
    return connection


def header_value(headers: Any, name: bytes) -> str | None:
    """The value of header ``name`` (lower-case) in an httpx/httpx2 ``Headers``, its
    values joined by ", " when it is repeated (as ``Headers.get`` does); None when absent.

    ``Headers`` answers ``in`` and ``get`` for a missing name by working out its
    encoding, then raising and catching a KeyError (about 0.45 us, and two lookups a
    request: retry count, content-encoding). Its list of (raw name, lower-case name,
    value) triples is read directly instead; any other mapping is asked the usual way."""
    triples = getattr(headers, "_list", None)
    if type(triples) is not list:
        text = name.decode("ascii")
        value: str | None = headers.get(text) if text in headers else None
        return value
    if name not in map(_lower_name, triples):  # the usual answer, in C
        return None
    values: list[bytes] = [value for _, key, value in triples if key == name]
    return b", ".join(values).decode("latin-1")


_lower_name = itemgetter(1)
_new_record = object.__new__
_fill_record = RequestTiming.__init__
# The method names and HTTP versions a record usually has, as the one string each
# record shares (``sys.intern`` for any other method name).
_METHODS = {name: name for name in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")}
_VERSIONS = {text.encode("ascii"): text for text in ("HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3")}


def _method_text(method: Any) -> str:
    return sys.intern(method if isinstance(method, str) else method.decode())


# The redacted text of each URL seen, by httpx's parsed form of it (a named tuple of
# strings): ``str(url)`` runs a dozen lines of httpx, once per distinct URL, not per
# request. Cleared when full: a suite calls few distinct URLs.
_url_texts: dict[Any, str] = {}
_URL_TEXTS_MAX = 1024


def _url_text(url: Any) -> str:
    """``redact_url(str(url))`` for an httpx/httpx2 URL, remembered."""
    key = getattr(url, "_uri_reference", None)
    if key is None:  # not httpx's URL: no parsed form to key on
        try:
            return redact_url(str(url))
        except Exception:  # read on the request's way in: never the request's failure
            return "(unreadable URL)"
    text = _url_texts.get(key)
    if text is None:
        if len(_url_texts) >= _URL_TEXTS_MAX:
            _url_texts.clear()
        text = _url_texts[key] = redact_url(str(url))
    return text


def _attempt(headers: Any) -> int | None:
    """Which try this request was, from the header the Anthropic and OpenAI SDKs send
    on every request (``x-stainless-retry-count``: retries taken so far)."""
    try:
        retries = header_value(headers, b"x-stainless-retry-count")
        return int(retries) + 1 if retries is not None else None
    except Exception:  # not a count, or headers of no shape known: read on the request's
        return None  # way in, so never the request's failure


def short_error(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its text."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def pool_settings(pool: Any) -> PoolSettings | None:
    """What an httpcore (or httpcore2) connection pool was configured with, and which
    client package it serves. Called once per transport, never per request."""

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


def _build_record(flight: InFlight, clock_offset: float) -> RequestTiming:
    """``flight.timing(clock_offset)``: the Python twin of ``_record.build``."""
    return flight.timing(clock_offset)


# ``new_flight(request, pool, when)`` is ``InFlight(None, request, pool, when)``, and
# ``build_record(flight, clock_offset)`` is ``flight.timing(clock_offset)``. Where a C
# compiler was at install time, both are ``_record.c``'s, which makes the in-flight
# object and builds the usual request's record in one call each (together about half of
# what a watched warm request adds, measured in the README); else these twins run
# (``_compiled``).
new_flight: Callable[[Any, PoolSettings | None, str], InFlight] = partial(InFlight, None)
build_record: Callable[[InFlight, float], RequestTiming] = _build_record
# ``write_stamper(current, write, connection)``: a network stream's ``write`` that stamps
# the request in flight as the stream class's own ``write`` method does (which runs
# where this is None).
write_stamper: Callable[[Any, Callable[..., Any], Connection], Callable[..., Any]] | None = None
# ``first_chunk(flight, chunk)`` is ``flight.first_chunk(chunk)``: what the byte streams
# call for a body's first chunk.
first_chunk: Callable[[InFlight, bytes], FirstTokenScanner | None] = InFlight.first_chunk
# What ``_record.bind`` is given: the classes whose slots it reads and writes, the usual
# methods' and versions' strings, the URL texts remembered, and what it calls otherwise.
_BINDING = (
    InFlight,
    Connection,
    RequestTiming,
    _METHODS,
    _VERSIONS,
    _url_texts,
    _url_text,
    _attempt,
    perf_counter,
)
_record = compiled("_record", ("bind", "new_flight", "build", "write_stamper", "first_chunk"))
EXTENSION = _record is not None
if _record is not None:
    _record.bind(*_BINDING)
    new_flight = _record.new_flight
    build_record = _record.build
    write_stamper = _record.write_stamper
    first_chunk = _record.first_chunk
