"""route: where a test's requests go in each mode.

- mock: ``TtfbRouter``, a respx router that intercepts both stacks: respx's own
  ``HTTPCoreMocker`` for httpx, and ``HTTPCore2Mocker`` (the same mocker with
  ``httpcore2`` targets) for httpx2, so the Anthropic SDK is mocked too. Nothing
  opens a socket; routes can declare a server latency.
- emulate: the same routes, answered by a local TLS + HTTP/2 server behind relays that
  add round-trip time (``_emulate``); instrumented clients connect there instead.
- live: nothing is intercepted.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import respx
from respx.mocks import HTTPCoreMocker, Mocker
from respx.models import AllMockedAssertionError, Route

from . import _anthropic
from ._emulate import Emulator, Region
from ._measure import use_network
from ._settings import Settings
from ._store import active_recorder, redact_url

__all__ = [
    "MESSAGES_PATH",
    "HTTPCore2Mocker",
    "TtfbRouter",
    "UnmatchedRequest",
    "anthropic_client_options",
]

MESSAGES_PATH = r"/v1/messages$"
_MOCK_API_KEY = "ttfb-mock-key"


class HTTPCore2Mocker(HTTPCoreMocker):
    """respx's httpcore mocker, aimed at httpcore2 (under httpx2 and the Anthropic SDK)."""

    name = "httpcore2"
    targets: ClassVar[list[str]] = [  # respx extends this list in place
        "httpcore2._sync.connection.HTTPConnection",
        "httpcore2._sync.connection_pool.ConnectionPool",
        "httpcore2._sync.http_proxy.HTTPProxy",
        "httpcore2._async.connection.AsyncHTTPConnection",
        "httpcore2._async.connection_pool.AsyncConnectionPool",
        "httpcore2._async.http_proxy.AsyncHTTPProxy",
    ]

    @classmethod
    def from_sync_httpx_response(cls, httpx_response: Any, target: Any, **kwargs: Any) -> Any:
        import httpcore2

        return httpcore2.Response(
            status=httpx_response.status_code,
            headers=httpx_response.headers.raw,
            content=httpx_response.stream,
            extensions=httpx_response.extensions,
        )


class UnmatchedRequest(AllMockedAssertionError):
    """A request in mock mode that no route matches."""


def _unmatched(request: httpx.Request) -> UnmatchedRequest:
    described = f"{request.method} {redact_url(str(request.url))}"
    recorder = active_recorder()
    if recorder is not None:
        recorder.unmatched.append(described)
    return UnmatchedRequest(
        f"pytest-ttfb: no ttfb_mock route matches {described}. Declare one on the "
        "ttfb_mock fixture (a respx router), or run with --ttfb-mode=live to send it "
        "to the network."
    )


def _latency_seconds(route: Route | None) -> float:
    return getattr(route, "ttfb_latency_ms", 0.0) / 1000.0 if route is not None else 0.0


def _check_latency(latency: Any, where: str) -> float:
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not latency >= 0:
        raise ValueError(f"{where}: latency must be milliseconds >= 0, got {latency!r}")
    return float(latency)


class TtfbRouter(respx.MockRouter):
    """The ``ttfb_mock`` fixture: a respx ``MockRouter`` active for httpx and httpx2.

    Beyond respx: ``route()`` (and ``get()``, ``post()``...) take ``latency=`` in ms,
    the server's time before the response headers; ``messages()`` re-declares the
    Anthropic Messages route (already declared, JSON and streaming).
    """

    def __init__(self) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True, using=None)
        self.messages()

    def route(
        self, *patterns: Any, name: str | None = None, latency: float | None = None, **lookups: Any
    ) -> Route:
        route = super().route(*patterns, name=name, **lookups)
        if latency is not None:
            # respx may hand back an existing route with the same pattern: tag that one.
            route.ttfb_latency_ms = _check_latency(latency, f"route {route!r}")  # type: ignore[attr-defined]
        return route

    def messages(
        self, *, text: str = _anthropic.DEFAULT_REPLY, latency: float | None = None
    ) -> Route:
        """(Re)declare ``POST .../v1/messages``: a Message, or its event stream when the
        request says ``"stream": true``. ``latency`` is ms before the headers."""

        def reply(request: httpx.Request) -> httpx.Response:
            body = request.content
            if _anthropic.request_wants_stream(body):
                return httpx.Response(
                    200,
                    headers={"content-type": "text/event-stream", "request-id": "req_ttfb_mock"},
                    content=b"".join(_anthropic.message_events(body, text)),
                )
            return httpx.Response(
                200,
                headers={"content-type": "application/json", "request-id": "req_ttfb_mock"},
                content=_anthropic.message_json(body, text),
            )

        route = self.route(
            method="POST", path__regex=MESSAGES_PATH, name="messages", latency=latency or 0
        )
        route.mock(side_effect=reply)
        return route

    def resolve(self, request: httpx.Request) -> Any:
        try:
            resolved = super().resolve(request)
        except UnmatchedRequest:
            raise
        except AllMockedAssertionError:
            raise _unmatched(request) from None
        delay = _latency_seconds(resolved.route)
        if delay:
            time.sleep(delay)
        return resolved

    async def aresolve(self, request: httpx.Request) -> Any:
        try:
            resolved = await super().aresolve(request)
        except UnmatchedRequest:
            raise
        except AllMockedAssertionError:
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


def anthropic_client_options(
    mode: str, base_url: str | None, environ: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """Keyword arguments for ``anthropic.Anthropic`` in ``mode``, or a reason to skip.

    Mock and emulate modes never send the user's key anywhere, not even to the local
    server: they use a placeholder. Live mode needs ``ANTHROPIC_API_KEY``.
    """
    options: dict[str, Any] = {}
    if base_url:
        options["base_url"] = base_url
    if mode == "live":
        key = environ.get("ANTHROPIC_API_KEY")
        if not key:
            return options, (
                "ANTHROPIC_API_KEY is not set: live mode sends real requests "
                "to the Anthropic API and needs a key"
            )
        options["api_key"] = key
    else:
        options["api_key"] = _MOCK_API_KEY
    return options, None


def needs_mock(
    mode: str, fixturenames: list[str], plugin_fixtures: frozenset[str], has_budgets: bool
) -> bool:
    """Mock (and emulate) mode answers only the tests that use the plugin, so installing
    it never breaks a suite's other tests that talk to real servers."""
    return mode != "live" and (has_budgets or not plugin_fixtures.isdisjoint(fixturenames))


@contextlib.contextmanager
def serving(router: TtfbRouter, mode: str, emulator: Emulator | None) -> Iterator[TtfbRouter]:
    """Make ``router`` answer the test's requests in ``mode``: respx in-process (mock),
    the emulated server (emulate), or nothing (live)."""
    if mode == "mock":
        with router:
            yield router
    elif mode == "emulate" and emulator is not None:
        emulator.route_to(router)
        try:
            yield router
        finally:
            emulator.route_to(None)
    else:
        yield router


@contextlib.contextmanager
def emulated_network(settings: Settings) -> Iterator[Emulator | None]:
    """In emulate mode, the session's network: started here, stopped on the way out
    (tests failing or the run interrupted alike)."""
    if settings.mode != "emulate":
        yield None
        return
    emulator = Emulator(
        settings.rtt_ms,
        jitter_ms=settings.jitter_ms,
        regions=[Region(name, rtt) for name, rtt in settings.regions],
    )
    emulator.start()
    use_network(emulator)
    try:
        yield emulator
    finally:
        use_network(None)
        emulator.stop()


def describe_mode(settings: Settings) -> str:
    """The mode as the reports name it."""
    if settings.mode == "emulate":
        regions = "".join(f", {name} {rtt:g} ms" for name, rtt in settings.regions)
        jitter = f", jitter {settings.jitter_ms:g} ms" if settings.jitter_ms else ""
        return f"emulate (RTT {settings.rtt_ms:g} ms{jitter}{regions})"
    if settings.mode == "live" and settings.base_url:
        return f"live ({settings.base_url})"
    return settings.mode


def describe_unmatched(unmatched: list[str]) -> str:
    if not unmatched:
        return ""
    counts = collections.Counter(unmatched)  # first-seen order, repeats folded
    listed = "\n".join(
        f"  {request}" + (f" (x{count})" if count > 1 else "") for request, count in counts.items()
    )
    return (
        f"pytest-ttfb: {len(unmatched)} request(s) matched no ttfb_mock route:\n{listed}\n"
        "Declare them on the ttfb_mock fixture, or run with --ttfb-mode=live."
    )
