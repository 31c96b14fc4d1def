"""store: the timing record, the per-test recorder, and which recorder is active.

The transports hand the active recorder a raw probe per request as soon as its
response headers arrive (or it fails), so a request is never lost even if the caller
abandons the stream; the ``RequestTiming`` is built from the probe when
``Recorder.requests`` is read, and kept current while its body is still being read.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

__all__ = [
    "PluginError",
    "PoolSettings",
    "Recorder",
    "RequestTiming",
    "active_recorder",
    "redact_url",
]

_SECRET_QUERY_KEY = re.compile(r"(?i)(key|token|secret|password|passwd|signature|sig|auth)")


@functools.lru_cache(maxsize=1024)  # a suite calls few URLs, many times: parse each once
def redact_url(url: str) -> str:
    """Return ``url`` without user info and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if _SECRET_QUERY_KEY.search(k) else v) for k, v in pairs], safe="*"
        )
    return SplitResult(parts.scheme, netloc, parts.path, query, "").geturl()


class PluginError(Exception):
    """An error pytest-ttfb raises about the test's setup: reported as its message
    alone, without the traceback through httpx that led to it."""


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """What the instrumented client's pool was configured with, for the hints."""

    http2: bool
    max_connections: int | None
    keepalive_expiry: float | None  # seconds


@dataclass(slots=True)
class RequestTiming:
    """One HTTP request as the transport saw it.

    Every ``*_ms`` field is milliseconds from the moment the request entered the
    transport, cumulative like curl's ``-w`` timers; ``None`` where the phase did not
    happen (no DNS, connect or TLS on a reused connection; no first token on a
    response that is not a stream of events).
    """

    method: str
    url: str
    status: int | None = None
    http_version: str | None = None
    reused: bool = False
    connection_id: str | None = None
    pool_wait_ms: float | None = None
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    error: str | None = None
    first_body_byte_ms: float | None = None
    attempt: int | None = None
    # Beyond the contract: when the first byte of the body arrived (ms), which try of
    # an SDK's retries this was (1 = first; None when the client does not say),
    # when the request was sent (ms; request headers written),
    # when it started on the process clock (s, for gaps between requests), the
    # test phase it was made in, and the pool it went through.
    sent_ms: float | None = None
    started_at: float = 0.0
    when: str = "call"
    pool: PoolSettings | None = None

    @property
    def new_connection(self) -> bool:
        """True when this request opened the connection it used."""
        return self.connection_id is not None and not self.reused

    @property
    def ended_at(self) -> float:
        """When the request ended on the process clock (s): body closed, else headers
        received, else when it started."""
        return self.started_at + (self.total_ms or self.ttfb_ms or 0.0) / 1000.0

    @property
    def tcp_connect_ms(self) -> float | None:
        """The TCP connect alone (``connect_ms`` is cumulative, like curl's)."""
        if self.connect_ms is None:
            return None
        return self.connect_ms - (self.dns_ms or self.pool_wait_ms or 0.0)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def phases(self) -> list[tuple[str, float, float]]:
        """The request's phases as ``(name, start_ms, end_ms)``, in order."""
        marks: list[tuple[str, float | None]] = [
            ("pool wait", self.pool_wait_ms),
            ("dns", self.dns_ms),
            ("connect", self.connect_ms),
            ("tls", self.tls_ms),
            ("send", self.sent_ms),
            ("wait for first byte", self.ttfb_ms),
            ("first token", self.first_token_ms),
            ("download", self.total_ms),
        ]
        spans: list[tuple[str, float, float]] = []
        previous = 0.0
        for name, mark in marks:
            if mark is None:
                continue
            # A mark before the previous one means the phase overlapped: clamp it.
            end = max(mark, previous)
            spans.append((name, previous, end))
            previous = end
        return spans

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["new_connection"] = self.new_connection
        return data


_Client = TypeVar("_Client")


class _Pending(Protocol):
    """A request the transport saw, not yet turned into a record."""

    def timing(self) -> RequestTiming: ...


class Recorder:
    """The ``ttfb`` fixture: what one test's instrumented clients recorded."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        # Requests in the order their responses began (or failed). The transports
        # append raw probes to ``pending``; ``requests`` builds their records on read.
        self.pending: list[_Pending] = []
        self._requests: list[RequestTiming] = []
        self.unmatched: list[str] = []
        # What went wrong in the plugin's hands (a misused fixture...): fails the test
        # even when the code under test swallowed the exception.
        self.failures: list[str] = []
        self.when = "setup"  # the test phase now running; each record notes it

    def __repr__(self) -> str:
        return f"<Recorder {self.nodeid} requests={len(self.requests)}>"

    @property
    def requests(self) -> list[RequestTiming]:
        """One ``RequestTiming`` per request this test made through a watched client."""
        if self.pending:
            # Slice, then delete the slice: another thread may append meanwhile.
            count = len(self.pending)
            batch = self.pending[:count]
            del self.pending[:count]
            self._requests.extend(item.timing() for item in batch)
        return self._requests

    @property
    def new_connections(self) -> int:
        """How many connections the recorded requests opened."""
        return sum(1 for r in self.requests if r.new_connection)

    def watch(self, client: _Client) -> _Client:
        """Instrument ``client`` (httpx or httpx2, sync or async, or an Anthropic SDK
        client) and return it. Its requests are recorded for whichever test is running."""
        from ._measure import instrument

        return instrument(client)


@dataclass
class _Active:
    recorder: Recorder | None = field(default=None)


# One test runs at a time in a pytest process; a plain global (not a ContextVar)
# lets threads the test starts record into it too.
_active = _Active()


def active_recorder() -> Recorder | None:
    return _active.recorder


def set_active_recorder(recorder: Recorder | None) -> None:
    _active.recorder = recorder
