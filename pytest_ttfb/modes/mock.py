"""mock: ``TtfbRouter``, the ``ttfb_mock`` fixture's respx router.

It intercepts both stacks: respx's own ``HTTPCoreMocker`` for httpx, and
``HTTPCore2Mocker`` (the same mocker with ``httpcore2`` targets) for httpx2, so the
Anthropic SDK is mocked too. Nothing opens a socket; routes can declare a server
latency. In emulate mode the same router answers from the emulated server instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, ClassVar

import httpx
import respx
from respx.mocks import HTTPCoreMocker, Mocker
from respx.models import AllMockedAssertionError, Call, CallList, Route

from ..errors import PluginError
from ..measure.active import active_sink
from ..providers import anthropic as _anthropic
from ..redact import redact_url

__all__ = ["MESSAGES_PATH", "HTTPCore2Mocker", "PacedStream", "TtfbRouter", "UnmatchedRequest"]

MESSAGES_PATH = r"/v1/messages$"


# respx keeps a registry of mocker names; a re-import of this module (pytester's
# in-process runs unload modules between runs) must replace our own earlier entry.
if getattr(Mocker.registry.get("httpcore2"), "__module__", None) == __name__:
    Mocker._Mocker__registry.pop("httpcore2")  # type: ignore[attr-defined]  # the dict behind .registry


# Which mocker is resolving the request at hand (respx's HTTPCoreMocker when unset):
# its routers after ours are the ones respx would try next.
_resolving_for: contextvars.ContextVar[type[Mocker] | None] = contextvars.ContextVar(
    "pytest_ttfb_mocker", default=None
)


_MISSING = object()


class HTTPCore2Mocker(HTTPCoreMocker):
    """respx's httpcore mocker, aimed at httpcore2 (under httpx2 and the Anthropic SDK)."""

    @classmethod
    def handler(cls, httpx_request: Any) -> Any:
        token = _resolving_for.set(cls)
        try:
            return super().handler(httpx_request)  # type: ignore[no-untyped-call]
        finally:
            _resolving_for.reset(token)

    @classmethod
    async def async_handler(cls, httpx_request: Any) -> Any:
        token = _resolving_for.set(cls)
        try:
            return await super().async_handler(httpx_request)  # type: ignore[no-untyped-call]
        finally:
            _resolving_for.reset(token)

    name = "httpcore2"
    targets: ClassVar[list[str]] = [  # respx extends this list in place
        "httpcore2._sync.connection.HTTPConnection",
        "httpcore2._sync.connection_pool.ConnectionPool",
        "httpcore2._sync.http_proxy.HTTPProxy",
        "httpcore2._async.connection.AsyncHTTPConnection",
        "httpcore2._async.connection_pool.AsyncConnectionPool",
        "httpcore2._async.http_proxy.AsyncHTTPProxy",
    ]

    # respx patches each target with unittest.mock.patch at every start, about 0.3 ms a
    # test; these targets are ours alone, so their patched methods are made once and
    # swapped in and out: (class, method name, what the class itself held, patched).
    _swaps: ClassVar[list[tuple[type, str, Any, Any]]] = []
    _swapped_targets: ClassVar[tuple[str, ...]] = ()
    _started: ClassVar[bool] = False

    @classmethod
    def start(cls) -> None:
        if cls._started:
            return
        if cls._swapped_targets != tuple(cls.targets):  # respx can add targets
            cls._swaps = []
            for target in cls.targets:
                module_name, _, class_name = target.rpartition(".")
                owner = getattr(importlib.import_module(module_name), class_name)
                for method in cls.target_methods:
                    original = getattr(owner, method, None)
                    if original is not None:
                        own = owner.__dict__.get(method, _MISSING)
                        patched = cls.mock(original)  # type: ignore[no-untyped-call]
                        cls._swaps.append((owner, method, own, patched))
            cls._swapped_targets = tuple(cls.targets)
        for owner, method, _, patched in cls._swaps:
            setattr(owner, method, patched)
        cls._started = True

    @classmethod
    def stop(cls, force: bool = False) -> None:
        if (cls.routers and not force) or not cls._started:
            return
        for owner, method, own, _ in cls._swaps:
            if own is _MISSING:
                delattr(owner, method)
            else:
                setattr(owner, method, own)
        cls._started = False

    @classmethod
    def from_sync_httpx_response(cls, httpx_response: Any, target: Any, **kwargs: Any) -> Any:
        import httpcore2

        return httpcore2.Response(
            status=httpx_response.status_code,
            headers=httpx_response.headers.raw,
            content=httpx_response.stream,
            extensions=httpx_response.extensions,
        )


class UnmatchedRequest(PluginError, AssertionError):
    """A request in mock mode that no active router answers: neither a ttfb_mock route
    nor the user's own respx routers. (Not respx's ``AllMockedAssertionError``: respx
    would then ask the routers after ours again, and raise its own error, which shows
    the raw URL; ``TtfbRouter`` asks them itself.)"""


def _unmatched(request: httpx.Request, *, record: bool = True) -> UnmatchedRequest:
    """The error for a request no router answered; ``record``: count it on the test."""
    described = f"{request.method} {redact_url(str(request.url))}"
    sink = active_sink()
    if sink is not None and record:
        sink.unmatched.append(described)
    return UnmatchedRequest(
        f"pytest-ttfb: no ttfb_mock route matches {described}. Declare one on the "
        "ttfb_mock fixture (a respx router), or run with --ttfb-mode=live to send it "
        "to the network."
    )


@contextlib.contextmanager
def _naming_unmatched(request: httpx.Request, *, record: bool = True) -> Iterator[None]:
    """respx's "not mocked" becomes our error, which names the request (redacted)."""
    try:
        yield
    except UnmatchedRequest:
        raise
    except AllMockedAssertionError:
        raise _unmatched(request, record=record) from None


def _latency_seconds(route: Route | None) -> float:
    return getattr(route, "ttfb_latency_ms", 0.0) / 1000.0 if route is not None else 0.0


def _check_ms(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{where}: expected milliseconds >= 0, got {value!r}")
    return float(value)


class PacedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent chunk by chunk, each after its delay (seconds), so a streamed
    reply's first token arrives when the route says; readable by sync and async
    clients alike, in-process or from the emulated server."""

    def __init__(self, chunks: Sequence[tuple[float, bytes]]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for delay, chunk in self._chunks:
            if delay:
                time.sleep(delay)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import anyio

        for delay, chunk in self._chunks:
            if delay:
                await anyio.sleep(delay)
            yield chunk


DEFAULT_HISTORY = 1000


class BoundedCallList(CallList):
    """respx's call history, keeping only the last ``keep`` calls (each holds a request
    and its response: a test of 100,000 requests would keep them all), while
    ``call_count`` and ``called`` still count every call."""

    def __init__(self, *calls: Any, name: Any = "respx", keep: int = DEFAULT_HISTORY) -> None:
        super().__init__(*calls, name=name)
        self._ttfb_keep = keep
        self._ttfb_dropped = 0

    @property
    def called(self) -> bool:  # type: ignore[override]
        return self.call_count > 0

    @property
    def call_count(self) -> int:  # type: ignore[override]
        return len(self) + self._ttfb_dropped

    def append(self, call: Call) -> None:
        super().append(call)
        if len(self) > self._ttfb_keep:
            del self[0]
            self._ttfb_dropped += 1

    def record(self, request: httpx.Request, response: httpx.Response | None) -> Call:
        call = Call(request=request, optional_response=response)
        self.append(call)
        return call

    def clear(self) -> None:
        super().clear()
        self._ttfb_dropped = 0


class TtfbRouter(respx.MockRouter):
    """The ``ttfb_mock`` fixture: a respx ``MockRouter`` active for httpx and httpx2.

    Beyond respx: ``route()`` (and ``get()``, ``post()``...) take ``latency=`` in ms,
    the server's time before the response headers; ``messages()`` re-declares the
    Anthropic Messages route (already declared, JSON and streaming); ``mode`` says
    which mode answers the routes (``"live"``: none does). The call history of the
    router and of each route keeps the last ``history`` calls (``call_count`` stays
    exact).
    """

    def __init__(self, *, history: int = DEFAULT_HISTORY) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True, using=None)
        self._ttfb_history = history
        self.calls = BoundedCallList(name="respx", keep=history)
        # The mode answering the routes: "mock", "emulate", or "live" (then nothing
        # does: a test that needs its own routes can skip, saying so).
        self.mode = "mock"
        self.messages()

    def route(
        self, *patterns: Any, name: str | None = None, latency: float | None = None, **lookups: Any
    ) -> Route:
        route = super().route(*patterns, name=name, **lookups)
        if not isinstance(route.calls, BoundedCallList):
            route.calls = BoundedCallList(route.calls, name=route, keep=self._ttfb_history)
        if latency is not None:
            # respx may hand back an existing route with the same pattern: tag that one.
            route.ttfb_latency_ms = _check_ms(latency, f"route {route!r}, latency")  # type: ignore[attr-defined]
        return route

    def messages(
        self,
        *,
        text: str = _anthropic.DEFAULT_REPLY,
        thinking: str | None = None,
        latency: float | None = None,
        first_token: float | None = None,
        token_interval: float | None = None,
        errors: Sequence[int] = (),
        retry_after: float | None = 0.05,
    ) -> Route:
        """(Re)declare ``POST .../v1/messages``: a Message, or its event stream when the
        request says ``"stream": true``.

        ``text`` and ``thinking`` (a thinking block sent first) make the reply;
        ``latency`` is ms before the headers; on a stream, ``first_token`` is ms from
        the headers to the first ``content_block_delta`` and ``token_interval`` ms
        between deltas. ``errors`` are statuses (529, 429, 500...) answered, with the
        API's error bodies, to the first calls, one each, before the reply; they ask for
        a retry after ``retry_after`` seconds (``None``: the client's own backoff).
        """
        reply = _anthropic.Reply(text=text, thinking=thinking)
        first_token_s = _check_ms(first_token or 0, "messages(first_token=...)") / 1000.0
        interval_s = _check_ms(token_interval or 0, "messages(token_interval=...)") / 1000.0
        pending_errors = [int(status) for status in errors]
        headers = {"request-id": "req_ttfb_mock"}

        def answer(request: httpx.Request) -> httpx.Response:
            if pending_errors:
                status = pending_errors.pop(0)
                error_headers = {**headers, "content-type": "application/json"}
                if retry_after is not None:
                    error_headers["retry-after"] = f"{retry_after:g}"
                    error_headers["retry-after-ms"] = f"{retry_after * 1000:g}"
                return httpx.Response(
                    status, headers=error_headers, content=_anthropic.error_json(status)
                )
            body = request.content
            if not _anthropic.request_wants_stream(body):
                return httpx.Response(
                    200,
                    headers={**headers, "content-type": "application/json"},
                    content=reply.json(body),
                )
            paced: list[tuple[float, bytes]] = []
            tokens = 0
            for role, event in reply.events(body):
                delay = 0.0
                if role == "token":
                    delay = first_token_s if tokens == 0 else interval_s
                    tokens += 1
                paced.append((delay, event))
            return httpx.Response(
                200,
                headers={**headers, "content-type": "text/event-stream"},
                stream=PacedStream(paced),
            )

        route = self.route(
            method="POST", path__regex=MESSAGES_PATH, name="messages", latency=latency or 0
        )
        route.mock(side_effect=answer)
        return route

    def _routers_after(self) -> list[Any]:
        """The other routers respx would try after this one for the request at hand (the
        user's ``respx_mock`` or ``with respx.mock:``, active beside ``ttfb_mock``)."""
        routers: list[Any] = (_resolving_for.get() or HTTPCoreMocker).routers
        return routers[routers.index(self) + 1 :] if self in routers else []

    def resolve(self, request: httpx.Request) -> Any:
        try:
            with _naming_unmatched(request, record=False):
                resolved = super().resolve(request)
        except UnmatchedRequest:
            # Unmatched means no active router answered: ask the ones respx would ask
            # next, as it would, before calling the request unmatched.
            for router in self._routers_after():
                try:
                    return router.resolve(request)
                except AllMockedAssertionError:
                    continue
            raise _unmatched(request) from None
        delay = _latency_seconds(resolved.route)
        if delay:
            time.sleep(delay)
        return resolved

    async def aresolve(self, request: httpx.Request) -> Any:
        try:
            with _naming_unmatched(request, record=False):
                resolved = await super().aresolve(request)
        except UnmatchedRequest:
            for router in self._routers_after():
                try:
                    return await router.aresolve(request)
                except AllMockedAssertionError:
                    continue
            raise _unmatched(request) from None
        delay = _latency_seconds(resolved.route)
        if delay:
            import anyio

            await anyio.sleep(delay)
        return resolved

    # One router, two mockers: register with both so either stack is intercepted.
    _MOCKERS: tuple[type[Mocker], ...] = (HTTPCoreMocker, HTTPCore2Mocker)

    def start(self) -> None:
        self.snapshot()
        for mocker in self._MOCKERS:
            mocker.register(self)
            mocker.start()

    def stop(self, clear: bool = True, reset: bool = True, quiet: bool = False) -> None:
        try:
            for mocker in self._MOCKERS:
                mocker.unregister(self)
        finally:
            if clear:
                self.rollback()
            if reset:
                self.reset()
            for mocker in self._MOCKERS:
                mocker.stop()
