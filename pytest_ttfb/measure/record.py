"""record: ``RequestTiming``, one HTTP request as the transport saw it."""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, fields
from itertools import pairwise
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
    # A stream of server-sent events: its shape ("anthropic", "chat", "responses" or
    # "events"), when each content chunk arrived (ms from the start; ``array('d')``,
    # 8 bytes a chunk), the output tokens the stream's own usage report gave, and the
    # first token by each rule that fits the shape (``first_token_ms`` is the
    # session's rule). ``buffered``: the body came whole, in memory (an in-process
    # transport such as httpx.ASGITransport or MockTransport): no chunk or first token
    # could be timed.
    stream: str | None = None
    chunk_ms: array[float] | None = None
    output_tokens: int | None = None
    first_token_by_rule: dict[str, float] | None = None
    buffered: bool = False

    @property
    def itl_ms(self) -> list[float] | None:
        """Inter-token latency: the gaps between consecutive content chunks of this
        stream (ms); None for a response that is no stream of events."""
        chunks = self.chunk_ms
        if chunks is None:
            return None
        return [b - a for a, b in pairwise(chunks)]

    @property
    def tpot_basis(self) -> str | None:
        """What ``tpot_ms`` divides by: "tokens" (the stream's usage report) or
        "chunks" (no usage reported); None when there is no TPOT."""
        chunks = self.chunk_ms
        if chunks is None or len(chunks) < 2:
            return None
        if self.output_tokens is not None:
            return "tokens" if self.output_tokens >= 2 else None
        return "chunks"

    @property
    def tpot_ms(self) -> float | None:
        """Time per output token after the first: (last chunk - first chunk) /
        (output tokens - 1), by chunks when the stream reports no usage; None with
        fewer than two chunks (or tokens)."""
        basis = self.tpot_basis
        if basis is None:
            return None
        chunks = self.chunk_ms
        assert chunks is not None
        count = self.output_tokens if basis == "tokens" else len(chunks)
        assert count is not None
        return (chunks[-1] - chunks[0]) / (count - 1)

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens (the stream's usage report) over the request's total time,
        end to end; None without a usage report or a finished body."""
        if self.output_tokens is None or not self.total_ms:
            return None
        return self.output_tokens / (self.total_ms / 1000.0)

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
        if self.ttfb_ms is None and self.total_ms is not None and spans:
            # Failed before any response byte: the time up to the error was spent in
            # the phase under way then, not downloading (the HAR's rule, report/har.py;
            # the request's line above the waterfall names the error).
            name, start, end = spans.pop()
            if name != "download":
                spans.append((name, start, end))
            elif end > start or not spans:
                spans.append((self._in_flight(spans[-1][0] if spans else None), start, end))
        return spans

    def _in_flight(self, last: str | None) -> str:
        """The phase a request that failed before its first byte was in, given the
        last phase it finished."""
        if last is None:
            return "pool wait"
        if last == "pool wait":
            return "send" if self.reused else "connect"
        if last == "dns":
            return "connect"
        if last == "connect":
            return "tls" if self.url.lower().startswith("https:") else "send"
        if last == "tls":
            return "send"
        return "wait for first byte"

    def to_data(self) -> dict[str, Any]:
        """The fields as plain data (``chunk_ms`` a list), for pytest-xdist."""
        chunks = self.chunk_ms
        self.chunk_ms = None  # not deep-copied by asdict: listed below
        try:
            data = asdict(self)
        finally:
            self.chunk_ms = chunks
        data["chunk_ms"] = None if chunks is None else chunks.tolist()
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RequestTiming:
        """The record ``to_data`` gave (unknown keys ignored, for derived ones)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        pool = values.pop("pool", None)
        chunks = values.pop("chunk_ms", None)
        return cls(
            **values,
            pool=PoolSettings(**pool) if pool else None,
            chunk_ms=None if chunks is None else array("d", chunks),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields and the derived figures, as the reports list them."""
        data = self.to_data()
        data["new_connection"] = self.new_connection
        data["itl_ms"] = self.itl_ms
        data["tpot_ms"] = self.tpot_ms
        data["tpot_basis"] = self.tpot_basis
        data["tokens_per_s"] = self.tokens_per_s
        return data
