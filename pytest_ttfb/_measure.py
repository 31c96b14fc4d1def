"""measure: instrumented transports for httpx (httpcore) and httpx2 (httpcore2).

How the phases are taken, and why not through the ``trace`` extension: httpcore's
trace hook calls back ten times on every request, which alone costs about 3 % of a
warm loopback request (see ``benchmarks/overhead.py``). Instead the client's
transport is wrapped (start, response headers, body closed) and its pool's
``NetworkBackend`` too (DNS, TCP connect and TLS, paid only by a request that opens
a connection). Every network stream the backend opens carries a ``Connection``; the
response's ``network_stream`` extension hands it back, which says whether this
request opened it (new) or found it in the pool (reused).

The clocks, all ``time.perf_counter`` offsets from the moment the request enters the
transport:

- ``pool_wait_ms``: until the pool started a connection for the request, or (reused)
  until the request's first byte was written to a pooled connection.
- ``dns_ms``: until the name was resolved [curl ``time_namelookup``].
- ``connect_ms``: until the TCP connection was established [``time_connect``].
- ``tls_ms``: until the TLS handshake finished [``time_appconnect``].
- ``sent_ms``: until the first byte of the request was written.
- ``ttfb_ms``: until the response's status line and headers were received
  [``time_starttransfer``]; httpcore parses them from the first read.
- ``first_token_ms``: until the body chunk holding the first ``content_block_delta``
  event reached the caller.
- ``total_ms``: until the body was read to the end and closed [``time_total``].
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import itertools
import json
import re
import socket
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from time import perf_counter
from types import ModuleType, SimpleNamespace
from typing import Any, Protocol, TypeVar

from ._store import PluginError, PoolSettings, Recorder, RequestTiming, _active, redact_url

__all__ = [
    "FIRST_TOKEN_RULES",
    "EventLoopMismatch",
    "Network",
    "guard_event_loop",
    "instrument",
    "use_first_token_rule",
    "use_network",
]

# A body is a stream of server-sent events when its first line is an SSE field.
_EVENT_FIELDS = (b"event:", b"data:", b"id:", b"retry:", b":")
_SNIFF_BYTES = max(len(field) for field in _EVENT_FIELDS)
_FIELD_INITIALS = b"edir:"


class _Probe:
    """One request in flight, then its raw marks until someone reads the record.

    The transport fills it on the hot path with bare attribute stores; ``timing()``
    turns it into a ``RequestTiming`` later (when ``ttfb.requests`` is read, or the
    test ends), because building the record and its URL text on every request costs
    more than everything else pytest-ttfb does per request.
    """

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
        )
        return self.record

    def finish(self, error: BaseException | None = None) -> None:
        """The body is closed (or the request failed): stamp the end, once."""
        if self.end is not None:
            return
        self.end = perf_counter()
        if error is not None:
            self.error = _short_error(error)
        if self.record is not None:  # already read: keep it current
            self.record.total_ms = _ms(self.start, self.end)
            self.record.error = self.error

    def body_chunk(
        self, scanner: _FirstTokenScanner | None, chunk: bytes
    ) -> _FirstTokenScanner | None:
        """Stamp the first body byte and the first token. Called with ``None`` for the
        first chunk, then with what it handed back until that is ``None`` (the token
        found, or the body is no stream of events)."""
        if scanner is None:
            self.first_body = perf_counter()
            head = chunk.lstrip(b"\xef\xbb\xbf\r\n")
            if head and head[:1] not in _FIELD_INITIALS:  # JSON and the like: done
                return None
            scanner = _FirstTokenScanner(_first_token.rule)
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
_current_probe: contextvars.ContextVar[_Probe | None] = contextvars.ContextVar(
    "pytest_ttfb_probe", default=None
)
_connection_ids = itertools.count(1)


class Network(Protocol):
    """Where instrumented clients connect instead, in emulate mode."""

    def address_for(self, host: str) -> tuple[str, int, float]:
        """``(host, port, rtt in seconds)`` to connect to instead of ``host``; any
        preparation it does counts within the connect's round trip."""
        ...

    def trust(self, context: ssl.SSLContext) -> None:
        """Make ``context`` trust the emulated server's certificates."""
        ...


@dataclass
class _FirstTokenRule:
    rule: str = "delta"


_first_token = _FirstTokenRule()


def use_first_token_rule(rule: str) -> None:
    """Which event of a stream counts as its first token (a key of FIRST_TOKEN_RULES)."""
    if rule not in FIRST_TOKEN_RULES:
        raise ValueError(f"unknown first-token rule {rule!r}")
    _first_token.rule = rule


@dataclass
class _Emulation:
    network: Network | None = None


# Set for the whole session in emulate mode; read only when a connection is opened.
_emulation = _Emulation()


def use_network(network: Network | None) -> None:
    """Send every new connection of every instrumented client through ``network``
    (``None``: back to the real network)."""
    _emulation.network = network


@dataclass(slots=True)
class Connection:
    """One TCP connection opened through an instrumented pool."""

    id: str
    opened_by: _Probe | None


def _ms(start: float, mark: float | None) -> float | None:
    return None if mark is None else (mark - start) * 1000.0


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _aresolve(host: str, port: int) -> list[str]:
    import anyio

    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _opened(started: float, resolved: float | None) -> Connection:
    """Stamp the request in flight with its connect phases; name the new connection."""
    probe = _current_probe.get()
    if probe is not None:
        probe.connect_start = started
        probe.dns_end = resolved
        probe.connect_end = perf_counter()
    return Connection(f"c{next(_connection_ids)}", probe)


def _attempt(headers: Any) -> int | None:
    """Which try this request was, from the header the Anthropic and OpenAI SDKs send
    on every request (``x-stainless-retry-count``: retries taken so far)."""
    retries = headers.get("x-stainless-retry-count")
    try:
        return int(retries) + 1 if retries is not None else None
    except ValueError:
        return None


def _short_error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


FIRST_TOKEN_RULES = {
    "delta": "the first content_block_delta event, whatever it carries (as the SDK's "
    "gen_ai.response.time_to_first_chunk)",
    "visible": "the first content_block_delta that is not thinking (text, tool input)",
    "openai": "the first chunk with content: choices[0].delta.content or tool_calls "
    "(Chat Completions), or a response.output_text.delta event (Responses)",
}
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_THINKING = ("thinking_delta", "signature_delta")


def _event_data(event: bytes) -> tuple[str, Any]:
    """An SSE event's name and its data parsed as JSON (``None`` if it is not JSON)."""
    name, data = "", []
    for line in event.splitlines():
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
    try:
        return name, json.loads(b"\n".join(data))
    except ValueError:
        return name, None


def _is_first_token(rule: str, event: bytes) -> bool:
    if rule == "openai":
        name, data = _event_data(event)
        if name == "response.output_text.delta":
            return True
        choices = data.get("choices") if isinstance(data, dict) else None
        delta = choices[0].get("delta") if choices and isinstance(choices[0], dict) else None
        return isinstance(delta, dict) and bool(delta.get("content") or delta.get("tool_calls"))
    if b"content_block_delta" not in event:  # cheap, before parsing
        return False
    if rule == "delta":
        return True
    _, data = _event_data(event)
    delta = data.get("delta") if isinstance(data, dict) else None
    return isinstance(delta, dict) and delta.get("type") not in _THINKING


class _FirstTokenScanner:
    """Watches a body for its first token, event by event, across chunk boundaries,
    without buffering the stream or delaying the caller.

    It first decides whether the body is a stream of server-sent events at all, from
    its first bytes (an SSE field such as ``event:`` or ``data:``; JSON starts with
    ``{``); reading the content-type header instead would cost more than the rest of
    the hot path. Then it holds only the event being received, until it is complete.
    """

    __slots__ = ("_events", "_pending", "_rule")

    def __init__(self, rule: str) -> None:
        self._rule = rule
        self._events: bool | None = None  # undecided until enough bytes have come
        self._pending = b""

    def feed(self, chunk: bytes) -> bool | None:
        """True: the first token is in this chunk. False: not yet. None: the body is
        not an event stream, stop feeding."""
        pending = self._pending + chunk
        if self._events is None:
            head = pending.lstrip(b"\xef\xbb\xbf\r\n")
            if head.startswith(_EVENT_FIELDS):
                self._events = True
            elif not head or (
                len(head) < _SNIFF_BYTES
                and head[:1] in _FIELD_INITIALS  # cheap no for JSON, before the full check
                and any(field.startswith(head) for field in _EVENT_FIELDS)
            ):
                self._pending = pending  # nothing yet, or the start of a field: wait
                return False
            else:
                return None
        start = 0
        for end in _EVENT_END.finditer(pending):
            if _is_first_token(self._rule, pending[start : end.start()]):
                return True
            start = end.end()
        self._pending = pending[start:]
        return False


class EventLoopMismatch(PluginError, RuntimeError):
    """A session-scoped async client used from a second event loop."""


class _LoopGuard:
    """Remembers the event loop a session-scoped async client first ran on, and stops
    it from being used on another: its pooled connections belong to the first loop,
    and on another they fail (the SDK would then retry quietly, on new connections)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def check(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): its own rules apply
            return
        if self._loop is None:
            self._loop = weakref.ref(loop)
            return
        if self._loop() is loop:
            return
        message = (
            f"pytest-ttfb: {self.name} is session-scoped, and its pooled connections "
            "belong to the event loop of the test that first used it; this test runs on "
            "another loop. Run the tests that share it on one session-wide loop: with "
            "pytest-asyncio, set asyncio_default_test_loop_scope = session and "
            "asyncio_default_fixture_loop_scope = session; with anyio, make anyio_backend "
            "session-scoped and hold the loop with a session-scoped async fixture (see "
            "the README). Or watch an AsyncClient of the test's own with ttfb.watch()."
        )
        recorder = _active.recorder
        if recorder is not None:
            recorder.failures.append(message)
        raise EventLoopMismatch(message)


def guard_event_loop(client: Any, name: str) -> None:
    """Make the instrumented async ``client`` refuse to run on a second event loop."""
    transport: Any = getattr(client, "_transport", None)
    if hasattr(transport, "loop_guard"):
        transport.loop_guard = _LoopGuard(name)


def _wrap_backend(pool: Any, backend_class: type) -> None:
    """Put ``backend_class`` between ``pool`` and its network backend, once."""
    backend = getattr(pool, "_network_backend", None)
    if backend is not None and not isinstance(backend, backend_class):
        pool._network_backend = backend_class(backend)


def _pool_settings(pool: Any) -> PoolSettings | None:
    if pool is None or not hasattr(pool, "_keepalive_expiry"):
        return None
    return PoolSettings(
        http2=bool(getattr(pool, "_http2", False)),
        max_connections=getattr(pool, "_max_connections", None),
        keepalive_expiry=getattr(pool, "_keepalive_expiry", None),
    )


def _build_stack(httpx: ModuleType, httpcore: ModuleType) -> SimpleNamespace:
    """The instrumented classes for one stack; each subclasses that stack's bases,
    because httpx asserts the response stream's type."""

    class TimingNetworkStream(httpcore.NetworkStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, connection: Connection) -> None:
            self._inner = inner
            self.ttfb_connection = connection
            # Pass-throughs bound to the inner stream: no extra frame per call.
            self.read = inner.read
            self.close = inner.close
            self.get_extra_info = inner.get_extra_info

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            probe = _current_probe.get()
            if probe is not None and probe.sent is None:
                probe.sent = perf_counter()
            self._inner.write(buffer, timeout)

        def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            if _emulation.network is not None and ssl_context is not None:
                _emulation.network.trust(ssl_context)
            inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
            probe = _current_probe.get()
            if probe is not None:
                probe.tls_end = perf_counter()
            return TimingNetworkStream(inner, self.ttfb_connection)

    class AsyncTimingNetworkStream(httpcore.AsyncNetworkStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, connection: Connection) -> None:
            self._inner = inner
            self.ttfb_connection = connection
            self.read = inner.read
            self.aclose = inner.aclose
            self.get_extra_info = inner.get_extra_info

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            probe = _current_probe.get()
            if probe is not None and probe.sent is None:
                probe.sent = perf_counter()
            await self._inner.write(buffer, timeout)

        async def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            if _emulation.network is not None and ssl_context is not None:
                _emulation.network.trust(ssl_context)
            inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
            probe = _current_probe.get()
            if probe is not None:
                probe.tls_end = perf_counter()
            return AsyncTimingNetworkStream(inner, self.ttfb_connection)

    class TimingBackend(httpcore.NetworkBackend):  # type: ignore[name-defined,misc]
        """Times DNS and TCP connect, and tags each stream with its connection."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            started = perf_counter()
            network = _emulation.network
            if network is not None:
                relay_host, relay_port, rtt = network.address_for(host)
                stream = self._inner.connect_tcp(
                    relay_host, relay_port, timeout, local_address, socket_options
                )
                # The TCP handshake's round trip, counted from the start of the connect.
                self._inner.sleep(max(0.0, started + rtt - perf_counter()))
                return TimingNetworkStream(stream, _opened(started, started))
            try:
                addresses, resolved = _resolve(host, port), perf_counter()
            except OSError:  # let the stack's own backend raise its ConnectError
                addresses, resolved = [host], None
            for address in addresses[:-1]:
                try:
                    stream = self._inner.connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                    break
                except Exception:
                    continue
            else:
                stream = self._inner.connect_tcp(
                    addresses[-1], port, timeout, local_address, socket_options
                )
            return TimingNetworkStream(stream, _opened(started, resolved))

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> Any:
            return self._inner.connect_unix_socket(path, timeout, socket_options)

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    class AsyncTimingBackend(httpcore.AsyncNetworkBackend):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            started = perf_counter()
            network = _emulation.network
            if network is not None:
                relay_host, relay_port, rtt = network.address_for(host)
                stream = await self._inner.connect_tcp(
                    relay_host, relay_port, timeout, local_address, socket_options
                )
                await self._inner.sleep(max(0.0, started + rtt - perf_counter()))
                return AsyncTimingNetworkStream(stream, _opened(started, started))
            try:
                addresses, resolved = await _aresolve(host, port), perf_counter()
            except OSError:
                addresses, resolved = [host], None
            for address in addresses[:-1]:
                try:
                    stream = await self._inner.connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                    break
                except Exception:
                    continue
            else:
                stream = await self._inner.connect_tcp(
                    addresses[-1], port, timeout, local_address, socket_options
                )
            return AsyncTimingNetworkStream(stream, _opened(started, resolved))

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> Any:
            return await self._inner.connect_unix_socket(path, timeout, socket_options)

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    class TimingByteStream(httpx.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, probe: _Probe) -> None:
            self._inner = inner
            self._probe = probe

        def __iter__(self) -> Iterator[bytes]:
            scanner: _FirstTokenScanner | None = None
            watching = True  # until the first token, or until the body is no stream
            try:
                for chunk in self._inner:
                    if watching:
                        scanner = self._probe.body_chunk(scanner, chunk)
                        watching = scanner is not None
                    yield chunk
            except Exception as exc:
                self._probe.finish(exc)
                raise

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                probe = self._probe
                if probe.end is None and probe.record is None:  # the usual case, inline
                    probe.end = perf_counter()
                else:
                    probe.finish()

    class AsyncTimingByteStream(httpx.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, probe: _Probe) -> None:
            self._inner = inner
            self._probe = probe

        async def __aiter__(self) -> AsyncIterator[bytes]:
            scanner: _FirstTokenScanner | None = None
            watching = True  # until the first token, or until the body is no stream
            try:
                async for chunk in self._inner:
                    if watching:
                        scanner = self._probe.body_chunk(scanner, chunk)
                        watching = scanner is not None
                    yield chunk
            except Exception as exc:
                self._probe.finish(exc)
                raise

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                probe = self._probe
                if probe.end is None and probe.record is None:
                    probe.end = perf_counter()
                else:
                    probe.finish()

    # The sync and async classes below are twins, kept in step by hand as httpcore
    # keeps its own: the hot path stays free of helper calls.
    class TimingTransport(httpx.BaseTransport):  # type: ignore[name-defined,misc]
        """Wraps a client's transport; records one ``RequestTiming`` per request."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            pool = getattr(inner, "_pool", None)
            self.pool_settings = _pool_settings(pool)
            _wrap_backend(pool, TimingBackend)

        def handle_request(self, request: Any) -> Any:
            recorder: Recorder | None = _active.recorder
            if recorder is None:  # no test running: nothing to record into
                return self.inner.handle_request(request)
            probe = _Probe(perf_counter(), request, self.pool_settings, recorder.when)
            token = _current_probe.set(probe)
            try:
                response = self.inner.handle_request(request)
            except BaseException as exc:
                probe.finish(exc)
                recorder.pending.append(probe)
                raise
            finally:
                _current_probe.reset(token)
            probe.headers_at = perf_counter()
            probe.status = response.status_code
            probe.extensions = response.extensions
            recorder.pending.append(probe)  # list.append is atomic: threads may share it
            response.stream = TimingByteStream(response.stream, probe)
            return response

        def close(self) -> None:
            self.inner.close()

        def __enter__(self) -> TimingTransport:
            self.inner.__enter__()
            return self

        def __exit__(self, *args: Any) -> None:
            self.inner.__exit__(*args)

    class AsyncTimingTransport(httpx.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.loop_guard: _LoopGuard | None = None  # set for session-scoped clients
            pool = getattr(inner, "_pool", None)
            self.pool_settings = _pool_settings(pool)
            _wrap_backend(pool, AsyncTimingBackend)

        async def handle_async_request(self, request: Any) -> Any:
            if self.loop_guard is not None:
                self.loop_guard.check()
            recorder: Recorder | None = _active.recorder
            if recorder is None:
                return await self.inner.handle_async_request(request)
            probe = _Probe(perf_counter(), request, self.pool_settings, recorder.when)
            token = _current_probe.set(probe)
            try:
                response = await self.inner.handle_async_request(request)
            except BaseException as exc:
                probe.finish(exc)
                recorder.pending.append(probe)
                raise
            finally:
                _current_probe.reset(token)
            probe.headers_at = perf_counter()
            probe.status = response.status_code
            probe.extensions = response.extensions
            recorder.pending.append(probe)  # list.append is atomic: threads may share it
            response.stream = AsyncTimingByteStream(response.stream, probe)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

        async def __aenter__(self) -> AsyncTimingTransport:
            await self.inner.__aenter__()
            return self

        async def __aexit__(self, *args: Any) -> None:
            await self.inner.__aexit__(*args)

    return SimpleNamespace(
        httpx=httpx,
        sync_transport=TimingTransport,
        async_transport=AsyncTimingTransport,
    )


_STACK_MODULES = (("httpx2", "httpcore2"), ("httpx", "httpcore"))
# Keyed by the module objects, so a re-imported httpx (pytester does that) gets its own.
_stacks: dict[tuple[int, int], SimpleNamespace] = {}


def _available_stacks() -> list[SimpleNamespace]:
    found: list[SimpleNamespace] = []
    for httpx_name, httpcore_name in _STACK_MODULES:
        try:
            httpx = importlib.import_module(httpx_name)
            httpcore = importlib.import_module(httpcore_name)
        except ImportError:
            continue
        key = (id(httpx), id(httpcore))
        if key not in _stacks:
            _stacks[key] = _build_stack(httpx, httpcore)
        if _stacks[key] not in found:  # httpx2.alias_httpx() makes both names one stack
            found.append(_stacks[key])
    return found


_Client = TypeVar("_Client")


def _wrap_transports(client: Any, transport_class: type) -> None:
    if not isinstance(client._transport, transport_class):
        client._transport = transport_class(client._transport)
    for pattern, transport in list(client._mounts.items()):
        if transport is not None and not isinstance(transport, transport_class):
            client._mounts[pattern] = transport_class(transport)


def instrument(client: _Client) -> _Client:
    """Instrument an httpx/httpx2 ``Client`` or ``AsyncClient``, or an SDK client that
    holds one (``anthropic.Anthropic``, ``AsyncAnthropic``, ``openai.OpenAI``...), in
    place, and return it. Instrumenting twice is harmless."""
    for stack in _available_stacks():
        if isinstance(client, stack.httpx.Client):
            _wrap_transports(client, stack.sync_transport)
            return client
        if isinstance(client, stack.httpx.AsyncClient):
            _wrap_transports(client, stack.async_transport)
            return client
    inner = getattr(client, "_client", None)
    if inner is not None and any(
        isinstance(inner, (stack.httpx.Client, stack.httpx.AsyncClient))
        for stack in _available_stacks()
    ):
        instrument(inner)
        return client
    raise TypeError(
        "ttfb.watch() takes an httpx or httpx2 Client or AsyncClient, or an SDK client "
        f"built on one (anthropic.Anthropic, AsyncAnthropic); got {type(client).__qualname__}"
    )
