# Generated from _async.py by .ci/unasync.py: do not edit; edit _async.py and run
# python .ci/unasync.py (CI checks the two match).
"""Wrappers for the transport, network backend, network stream and byte stream.

``_async.py`` is the source; ``_sync.py`` is generated from it by ``.ci/unasync.py``
(as httpcore generates its ``_sync`` package), and CI fails when the two differ, so
the twins cannot drift. Edit ``_async.py``, then run ``python .ci/unasync.py``.

The classes here subclass nothing of httpx's: ``stacks`` binds each to one stack by
deriving a class from it and that stack's base (httpx asserts the response stream's
type), and sets the class attributes naming its partners (``stream_class``,
``backend_class``, ``byte_stream_class``). Methods do bare attribute stores on the
hot path and call no helpers, for the overhead budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .active import COMPACT_AT, active
from .inflight import (
    InFlight,
    current,
    first_chunk,
    new_flight,
    opened,
    pool_settings,
    write_stamper,
)
from .network import emulation, resolve
from .scanner import FirstTokenScanner

if TYPE_CHECKING:
    from collections.abc import Callable

    from .loop_guard import LoopGuard

__all__ = [
    "TimingBackend",
    "TimingByteStream",
    "TimingNetworkStream",
    "TimingTransport",
]


class TimingNetworkStream:
    """A connection's stream: stamps the request's first write and TLS handshake."""

    def __init__(self, inner: Any, connection: Any) -> None:
        self._inner = inner
        self.ttfb_connection = connection
        # Pass-throughs bound to the inner stream: no extra frame per call.
        self.read = inner.read
        self.close = inner.close
        self.get_extra_info = inner.get_extra_info
        if write_stamper is not None:  # compiled: ``write`` below, in one builtin call
            self.write = write_stamper(current, inner.write, connection)  # type: ignore[method-assign]

    def write(self, buffer: bytes, timeout: float | None = None) -> Any:
        # A plain method returning what the inner write returns (in async code, its
        # awaitable): no coroutine of ours per write, and there are several a request.
        # httpcore awaits the call at once, so the stamp is the write's start either way.
        # (The reference for ``_record.write_stamper``, which takes its place where the
        # module is compiled.)
        request = current.get()
        if request is not None and request.sent is None:
            request.sent = perf_counter()
            if request.connection is None:  # sent on a pooled connection (or a watched
                # one opened before): known here even if no response ever comes
                request.connection = self.ttfb_connection
        return self._inner.write(buffer, timeout)

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        if emulation.network is not None and ssl_context is not None:
            emulation.network.trust(ssl_context)
        inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
        request = current.get()
        if request is not None:
            request.tls_end = perf_counter()
        return type(self)(inner, self.ttfb_connection)


class TimingBackend:
    """Times DNS and TCP connect, and tags each stream with its connection."""

    stream_class: Any = TimingNetworkStream  # the stack's subclass, set by stacks

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
        network = emulation.network
        if network is not None:
            relay_host, relay_port, rtt = network.address_for(host)
            stream = self._inner.connect_tcp(
                relay_host, relay_port, timeout, local_address, socket_options
            )
            # The TCP handshake's round trip, counted from the start of the connect.
            self._inner.sleep(max(0.0, started + rtt - perf_counter()))
            return self.stream_class(stream, opened(started, started))
        try:
            addresses, resolved = resolve(host, port), perf_counter()
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
        return self.stream_class(stream, opened(started, resolved))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> Any:
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class TimingByteStream:
    """A response body: stamps the first body byte, each content chunk of a stream of
    events (and its first token), and the end."""

    # The stack's own response stream class and its exception mapping, set per stack by
    # ``stacks``: a body that comes through exactly that class is read from what it
    # wraps (httpcore's stream), under the same mapping httpx applies, so the chunks
    # pass through one generator (ours) instead of two.
    stack_stream_class: Any = None
    map_exceptions: Any = None

    def __init__(self, inner: Any, request: InFlight) -> None:
        self._inner = inner
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        request = self._request
        scanner: FirstTokenScanner | None = None
        # Once the first token is found, each chunk goes straight to the scanner
        # (``after``), and while the scanner says it is ``steady`` the usual read of a
        # long stream, one whole content event, is checked and stamped by the function
        # it hands out: the per-chunk cost of a long stream is this loop's, so it makes
        # that one call (into C, where it was compiled).
        after: Callable[[bytes], None] | None = None
        steady: Callable[[object], bool] | None = None
        # Every chunk of a stream of events (to ``body_chunk``, then to ``after``);
        # stops if the body is not one, or the scanner cannot read it.
        watching = True
        source = self._inner
        if type(source) is self.stack_stream_class:
            mapping = self.map_exceptions()  # httpcore's errors as the stack's own
            source = source._httpcore_stream
        else:
            mapping = nullcontext()
        try:
            with mapping:
                for chunk in source:
                    # One whole content event, the usual read of a steady stream: its
                    # chunk time (appended by steady), and nothing else to do.
                    if steady is not None and steady(chunk):
                        yield chunk
                        continue
                    if watching:
                        try:
                            # The scanner reads bytes: a memoryview, say, is copied for it
                            # (anything that is no buffer, an int say, is not turned into
                            # bytes: ``memoryview`` refuses it).
                            seen = chunk if type(chunk) is bytes else bytes(memoryview(chunk))
                            # Any other read once the first token is found (set whenever
                            # steady is).
                            if after is not None:
                                assert scanner is not None  # (as after is)
                                after(seen)
                                steady = scanner.steady()
                            else:
                                scanner = (
                                    first_chunk(request, seen)  # (in C, where built)
                                    if scanner is None
                                    else request.body_chunk(scanner, seen)
                                )
                                if scanner is None:
                                    watching = False
                                elif scanner.found and type(scanner) is FirstTokenScanner:
                                    # (a decoding scanner can still fail: it stays on
                                    # body_chunk)
                                    after = scanner.after
                                    steady = scanner.steady()
                        except Exception:
                            # What the scanner cannot read (a chunk that is no bytes) never
                            # reaches the caller as an error of ours: the body is handed on
                            # as the bare client would, and its stream figures are left out
                            # rather than half counted.
                            after, steady, watching = None, None, False
                            request.unscanned()
                    yield chunk
        except Exception as exc:
            self._request.finish(exc)
            raise

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            request = self._request
            request.response_headers = None  # nothing looks into the body once it is closed
            if request.end is None:  # the usual case, inline: stamp, then look
                request.end = perf_counter()
                # Read ``record`` after storing ``end``: a record built meanwhile by a
                # thread reading ``ttfb.requests`` gets the end from one side or the
                # other (``InFlight.timing`` reads the marks after publishing it).
                if request.record is not None:
                    request.refresh()


class TimingTransport:
    """Wraps a client's transport; records one ``RequestTiming`` per request."""

    backend_class: Any = TimingBackend  # the stack's subclasses, set by stacks
    byte_stream_class: Any = TimingByteStream

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.loop_guard: LoopGuard | None = None  # set for session-scoped async clients
        pool: Any = getattr(inner, "_pool", None)
        self.pool_settings = pool_settings(pool)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, self.backend_class):
            pool._network_backend = self.backend_class(backend)
        ssl_context = getattr(pool, "_ssl_context", None)
        if emulation.network is not None and ssl_context is not None:
            # Trusting the emulated server's CA costs about 0.5 ms per context: paid
            # here, not inside the first connection's TLS handshake (``start_tls``).
            emulation.network.trust(ssl_context)

    def handle_request(self, request: Any) -> Any:
        if self.loop_guard is not None:
            self.loop_guard.check()
        sink = active.sink
        if sink is None:  # no test running: nothing to record into
            return self.inner.handle_request(request)
        # Started once it has the URL's text and the retry count (InFlight with None).
        inflight = new_flight(request, self.pool_settings, sink.when)
        token = current.set(inflight)
        try:
            response = self.inner.handle_request(request)
            if emulation.network is not None:  # emulate mode: did the route raise?
                raised = emulation.network.raised(response)
                if raised is not None:
                    __tracebackhide__ = True  # the route's exception, not ours
                    for _ in response.stream:  # read it: the connection stays pooled
                        pass
                    response.close()
                    raise raised
        except BaseException as exc:
            inflight.finish(exc)
            sink.pending.append(inflight)
            raise
        finally:
            current.reset(token)
        inflight.headers_at = headers_at = perf_counter()
        inflight.status = response.status_code
        extensions = response.extensions or {}  # (None from some transport of the user's)
        inflight.version = extensions.get("http_version")
        if inflight.connection is None:  # no watched stream wrote it: the build looks
            inflight.extensions = extensions  # for one in the response's extensions
        # ``hasattr``, not ``in response.__dict__``: reading ``__dict__`` makes CPython
        # 3.11 and 3.12 give the response a real dict, and every attribute the stack then
        # reads or stores on it, once a body chunk in ``iter_raw``, is a dict lookup.
        if hasattr(response, "_content"):
            # The body came whole, in memory (httpx.MockTransport, an ASGI app): there is
            # nothing left to read, so the request ends with its headers.
            inflight.first_body = inflight.end = headers_at
            inflight.buffered = True
        else:
            inflight.response_headers = response.headers  # looked into only if need be
            response.stream = self.byte_stream_class(response.stream, inflight)
        pending = sink.pending
        pending.append(inflight)  # list.append is atomic: threads may share it
        if len(pending) >= COMPACT_AT:  # let go of what older requests hold
            sink.compact()
        return response

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> TimingTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.inner.__exit__(*args)
