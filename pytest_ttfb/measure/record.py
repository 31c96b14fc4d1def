"""record: ``RequestTiming``, one HTTP request as the transport saw it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["PoolSettings", "RequestTiming"]


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """What the instrumented client's pool was configured with, for the hints."""

    http2: bool
    max_connections: int | None  # None: unlimited
    keepalive_expiry: float | None  # seconds
    stack: str = "httpx"  # the client's package: "httpx" or "httpx2" (for the fixes named)


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
    reused: bool | None = False
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
    # test phase it was made in ("setup", "call" or "teardown"), and the pool it
    # went through.
    sent_ms: float | None = None
    started_at: float = 0.0
    when: str = "call"
    pool: PoolSettings | None = None
    # When it started on the wall clock (s since the epoch), for reports that put
    # requests of several processes (pytest-xdist workers) on one time line.
    started_unix: float = 0.0
    # Ended after its test did (a request a background thread finished later), or was
    # still running when the session ended (then ``error`` is "unfinished"): listed
    # under the test that started it, never judged.
    late: bool = False

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
