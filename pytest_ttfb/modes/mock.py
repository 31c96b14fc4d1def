"""mock: ``TtfbRouter``, the ``ttfb_mock`` fixture's respx router.

It intercepts both stacks: respx's own ``HTTPCoreMocker`` for httpx, and
``HTTPCore2Mocker`` (the same mocker with ``httpcore2`` targets) for httpx2, so the
Anthropic SDK is mocked too. Nothing opens a socket; routes can declare a server
latency. In emulate mode the same router answers from the emulated server instead.
"""

from __future__ import annotations

import contextvars
import importlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, ClassVar

import httpx
import respx
from respx.mocks import HTTPCoreMocker, Mocker
from respx.models import AllMockedAssertionError, Call, CallList, Route, RouteList
from respx.patterns import M

from ..durations import parse_duration
from ..errors import PluginError
from ..measure.active import active_sink
from ..providers import anthropic as _anthropic
from ..providers import openai as _openai
from ..providers.replies import Block, parse_replies
from ..redact import redact_url

__all__ = [
    "CHAT_COMPLETIONS_PATH",
    "MESSAGES_PATH",
    "RESPONSES_PATH",
    "HTTPCore2Mocker",
    "PacedStream",
    "TtfbRouter",
    "UnmatchedRequest",
]

MESSAGES_PATH = r"/v1/messages$"
CHAT_COMPLETIONS_PATH = r"/v1/chat/completions$"
RESPONSES_PATH = r"/v1/responses$"
_BUILT_IN_PATHS = (MESSAGES_PATH, CHAT_COMPLETIONS_PATH, RESPONSES_PATH)


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


class _SwappedPatches:
    """A mocker's patched target methods, made once and swapped in and out.

    respx patches each target method with ``unittest.mock.patch(spec=True)`` at every
    start, about 0.4 ms a test for each mocker (issue 9, row 2). This sets prepared
    patched methods instead: each start takes what the class holds *now* (another
    library may have wrapped the method since), reuses the patched method made for
    that very object or makes one, and ``stop`` puts back what that start took. It
    stands in respx's ``_patches`` list as one patch, so respx's own ``start`` (a
    user's respx router) sees the targets patched, and respx's ``stop`` (ours or a
    user's, when the last router leaves) calls ``stop()`` here.
    """

    def __init__(self, mocker: type[Mocker]) -> None:
        self._mocker = mocker
        self._targets: tuple[str, ...] = ()
        self._owners: list[type] = []
        # (class, method name) -> (the method it wraps, the patched method)
        self._patched: dict[tuple[type, str], tuple[Any, Any]] = {}
        # What the running start replaced: (class, method name, what the class held)
        self._taken: list[tuple[type, str, Any]] = []

    def start(self) -> None:
        mocker = self._mocker
        if self._targets != tuple(mocker.targets):  # respx can add targets
            self._owners = []
            for target in mocker.targets:
                module_name, _, class_name = target.rpartition(".")
                try:
                    self._owners.append(getattr(importlib.import_module(module_name), class_name))
                except (ImportError, AttributeError):
                    continue  # as respx skips a target it cannot patch
            self._targets = tuple(mocker.targets)
        self._taken = []
        for owner in self._owners:
            for method in mocker.target_methods:
                original = getattr(owner, method, None)
                if original is None:
                    continue
                made = self._patched.get((owner, method))
                if made is None or made[0] is not original:
                    made = (original, mocker.mock(original))  # type: ignore[no-untyped-call]
                    self._patched[(owner, method)] = made
                self._taken.append((owner, method, owner.__dict__.get(method, _MISSING)))
                setattr(owner, method, made[1])

    def stop(self) -> None:
        for owner, method, own in reversed(self._taken):
            if own is _MISSING:
                delattr(owner, method)
            else:
                setattr(owner, method, own)
        self._taken = []


_swapped: dict[type[Mocker], _SwappedPatches] = {}


def start_swapped(mocker: type[Mocker]) -> None:
    """``mocker.start()``, with patched methods made once per process (see above)."""
    if mocker._patches:  # patched already, by us or respx
        return
    swapped = _swapped.get(mocker)
    if swapped is None:
        swapped = _swapped[mocker] = _SwappedPatches(mocker)
    swapped.start()
    mocker._patches.append(swapped)  # type: ignore[arg-type]  # one stand-in for its patches


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

    @classmethod
    def start(cls) -> None:
        start_swapped(cls)

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


def _latency_seconds(route: Route | None) -> float:
    return getattr(route, "ttfb_latency_ms", 0.0) / 1000.0 if route is not None else 0.0


def _duration(value: Any, where: str) -> float:
    """A knob's duration in ms (``None``: 0); a ``ValueError`` naming the knob else."""
    return 0.0 if value is None else parse_duration(value, where)


def _statuses(errors: Any, where: str) -> list[int]:
    """Error statuses to answer, each an HTTP error status (400 to 599)."""
    if isinstance(errors, str | bytes) or not isinstance(errors, Sequence):
        raise ValueError(f"{where}: expected a list of HTTP statuses, got {errors!r}")
    for status in errors:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"{where}: expected HTTP error statuses (400 to 599), got {status!r}")
    return list(errors)


# Which of a router's routes a resolution asks: "all" (respx's own uses), "own" (the
# user's routes: first) or "fallback" (the built-in provider routes: last).
_phase: contextvars.ContextVar[str] = contextvars.ContextVar("pytest_ttfb_phase", default="all")


def _is_fallback(route: Route) -> bool:
    return getattr(route, "ttfb_fallback", False) is True


# The built-in provider routes, by name: declared when first needed (see _FallbackLast).
BUILT_IN_ROUTES = ("messages", "chat_completions", "responses")


class _FallbackLast(RouteList):
    """respx's route list, whose built-in provider routes answer only what no other
    route does: a resolution iterates the phase's routes only (see ``_phase``).

    The built-in routes are declared when first needed, not with every ``ttfb_mock``
    (a respx route costs about 0.1 ms to make, and most tests never reach them): when
    a request falls through to them, or when one is looked up by name
    (``ttfb_mock["messages"]``). ``declare_built_ins`` declares those not declared yet.
    """

    def __init__(self, declare_built_ins: Callable[[], None]) -> None:
        super().__init__()
        self._declare_built_ins: Callable[[], None] | None = declare_built_ins
        # Threads (20 concurrent first calls) falling through together: one declares,
        # the others wait for the routes instead of finding none.
        self._declaring = threading.RLock()

    def built_ins_needed(self) -> None:
        if self._declare_built_ins is None:
            return
        with self._declaring:
            declare = self._declare_built_ins
            if declare is not None:
                declare()
                self._declare_built_ins = None

    def pop(self, name: str, default: Any = ...) -> Any:
        if name in BUILT_IN_ROUTES:  # removing one must leave it removed
            self.built_ins_needed()
        return super().pop(name, default)  # type: ignore[no-untyped-call]

    def __getitem__(self, key: int | str) -> Route:
        if key in BUILT_IN_ROUTES:
            self.built_ins_needed()
        return super().__getitem__(key)

    def __contains__(self, name: str) -> bool:
        if name in BUILT_IN_ROUTES:
            self.built_ins_needed()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[Route]:
        phase = _phase.get()
        if phase == "own":
            return (route for route in self._routes if not _is_fallback(route))
        if phase == "fallback":
            self.built_ins_needed()
            return (route for route in self._routes if _is_fallback(route))
        return iter(
            [r for r in self._routes if not _is_fallback(r)]
            + [r for r in self._routes if _is_fallback(r)]
        )


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

    Beyond respx: ``route()`` (and ``get()``, ``post()``...) take ``latency=`` (a
    duration: ms, or ``"250ms"``, ``"1.5s"``), the server's time before the response
    headers; ``messages()``, ``chat_completions()`` and ``responses()`` re-declare the
    built-in Anthropic Messages and OpenAI routes (there without being declared, JSON
    and streaming), which answer only requests no other route matches; ``mode`` says
    which mode answers the routes (``"live"``: none does). The call history of the
    router and of each route keeps the last ``history`` calls (``call_count`` stays
    exact).
    """

    def __init__(self, *, history: int = DEFAULT_HISTORY) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True, using=None)
        self.routes = _FallbackLast(self._declare_built_ins)
        self._ttfb_history = history
        self.calls = BoundedCallList(name="respx", keep=history)
        # The mode answering the routes: "mock", "emulate", or "live" (then nothing
        # does: a test that needs its own routes can skip, saying so).
        self.mode = "mock"

    def _declare_built_ins(self) -> None:
        """The built-in routes the test has not declared itself, with their defaults;
        not one whose exact pattern a route of the test's has taken (respx would merge
        the two, and the test's answer must win)."""
        declared = self.routes._names
        patterns = [route.pattern for route in self.routes._routes]
        for name, path in zip(BUILT_IN_ROUTES, _BUILT_IN_PATHS, strict=True):
            if name not in declared and M(method="POST", path__regex=path) not in patterns:
                getattr(self, name)()

    def route(
        self, *patterns: Any, name: str | None = None, latency: float | None = None, **lookups: Any
    ) -> Route:
        route = super().route(*patterns, name=name, **lookups)
        if not isinstance(route.calls, BoundedCallList):
            route.calls = BoundedCallList(route.calls, name=route, keep=self._ttfb_history)
        if latency is not None:
            # respx may hand back an existing route with the same pattern: tag that one.
            route.ttfb_latency_ms = parse_duration(latency, f"route {route!r}, latency")  # type: ignore[attr-defined]
        return route

    def messages(
        self,
        *,
        text: str | None = None,
        thinking: str | None = None,
        replies: Sequence[Any] | None = None,
        latency: float | str | None = None,
        first_token: float | str | None = None,
        token_interval: float | str | None = None,
        errors: Sequence[int] = (),
        retry_after: float | None = 0.05,
    ) -> Route:
        """(Re)declare ``POST .../v1/messages``: a Message, or its event stream when the
        request says ``"stream": true``.

        ``text`` and ``thinking`` (a thinking block sent first) make the reply; or
        ``replies``, one per call in turn (the last one then repeats), each text or a
        list of content blocks (``text``, ``thinking``, ``tool_use``). ``latency`` is
        the server's time before the headers; on a stream, ``first_token`` is the time
        from the headers to the first ``content_block_delta`` and ``token_interval``
        the time between deltas (durations: ms, or ``"250ms"``, ``"1.5s"``,
        ``"800us"``). ``errors`` are statuses (529, 429, 500...) answered, with the
        API's error bodies, to the first calls, one each, before the replies; they ask
        for a retry after ``retry_after`` seconds (``None``: the client's own backoff).
        A route of your own on the same URL wins over this one.
        """
        where = "messages"
        if replies is None:
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{where}(text=...): expected text, got {text!r}")
            if thinking is not None and not isinstance(thinking, str):
                raise ValueError(f"{where}(thinking=...): expected text, got {thinking!r}")
            answers: list[Any] = [
                _anthropic.Reply(
                    text=_anthropic.DEFAULT_REPLY if text is None else text, thinking=thinking
                )
            ]
        else:
            if text is not None or thinking is not None:
                raise ValueError(f"{where}(...): give replies=[...] or text/thinking, not both")
            answers = [
                _anthropic.Reply(blocks=blocks)
                for blocks in parse_replies(replies, f"{where}(replies=...)")
            ]
        return self._declare(
            where,
            MESSAGES_PATH,
            answers,
            wants_stream=_anthropic.request_wants_stream,
            error_body=_anthropic.error_json,
            headers={"request-id": "req_ttfb_mock"},
            latency=latency,
            first_token=first_token,
            token_interval=token_interval,
            errors=errors,
            retry_after=retry_after,
        )

    def chat_completions(
        self,
        *,
        text: str | None = None,
        replies: Sequence[Any] | None = None,
        latency: float | str | None = None,
        first_token: float | str | None = None,
        token_interval: float | str | None = None,
        errors: Sequence[int] = (),
        retry_after: float | None = 0.05,
    ) -> Route:
        """(Re)declare OpenAI's ``POST .../v1/chat/completions``: a ``chat.completion``,
        or its chunks when the request says ``"stream": true`` (with a usage chunk when
        ``stream_options.include_usage`` is set). The knobs are ``messages()``'s; a
        ``tool_use`` block of a reply is a tool call (``finish_reason="tool_calls"``),
        and errors carry OpenAI's error bodies."""
        return self._openai(
            "chat_completions",
            CHAT_COMPLETIONS_PATH,
            _openai.ChatReply,
            text,
            replies,
            latency,
            first_token,
            token_interval,
            errors,
            retry_after,
        )

    def responses(
        self,
        *,
        text: str | None = None,
        replies: Sequence[Any] | None = None,
        latency: float | str | None = None,
        first_token: float | str | None = None,
        token_interval: float | str | None = None,
        errors: Sequence[int] = (),
        retry_after: float | None = 0.05,
    ) -> Route:
        """(Re)declare OpenAI's ``POST .../v1/responses``: a ``response``, or its typed
        events when the request says ``"stream": true`` (``response.created``,
        ``response.output_text.delta``..., ``response.completed`` with usage). The
        knobs are ``messages()``'s; a ``tool_use`` block is a ``function_call`` item."""
        return self._openai(
            "responses",
            RESPONSES_PATH,
            _openai.ResponsesReply,
            text,
            replies,
            latency,
            first_token,
            token_interval,
            errors,
            retry_after,
        )

    def _openai(
        self,
        where: str,
        path: str,
        reply_class: Callable[[tuple[Block, ...]], Any],
        text: str | None,
        replies: Sequence[Any] | None,
        latency: float | str | None,
        first_token: float | str | None,
        token_interval: float | str | None,
        errors: Sequence[int],
        retry_after: float | None,
    ) -> Route:
        if replies is None:
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{where}(text=...): expected text, got {text!r}")
            replies = [_openai.DEFAULT_REPLY if text is None else text]
        elif text is not None:
            raise ValueError(f"{where}(...): give replies=[...] or text, not both")
        parsed = parse_replies(replies, f"{where}(replies=...)", kinds=_openai.BLOCK_TYPES)
        return self._declare(
            where,
            path,
            [reply_class(blocks) for blocks in parsed],
            wants_stream=_openai.request_wants_stream,
            error_body=_openai.error_json,
            headers={"x-request-id": "req_ttfb_mock"},
            latency=latency,
            first_token=first_token,
            token_interval=token_interval,
            errors=errors,
            retry_after=retry_after,
        )

    def _declare(
        self,
        where: str,
        path: str,
        answers: Sequence[Any],
        *,
        wants_stream: Callable[[bytes], bool],
        error_body: Callable[[int], bytes],
        headers: dict[str, str],
        latency: float | str | None,
        first_token: float | str | None,
        token_interval: float | str | None,
        errors: Sequence[int],
        retry_after: float | None,
    ) -> Route:
        """Declare a provider's built-in route: ``answers`` (objects with ``json(body)``
        and ``events(body)``) one per call, the last repeating, after ``errors``. Its
        state (errors still to send, replies sent) is this declaration's, so each test
        (each ``ttfb_mock``) starts afresh. It is a fallback: the user's own routes, on
        this router or on their own respx routers, are asked first."""
        latency_ms = _duration(latency, f"{where}(latency=...)")
        first_token_s = _duration(first_token, f"{where}(first_token=...)") / 1000.0
        interval_s = _duration(token_interval, f"{where}(token_interval=...)") / 1000.0
        pending_errors = _statuses(errors, f"{where}(errors=...)")
        if retry_after is not None and (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, int | float)
            or not 0 <= retry_after < 86_400
        ):
            raise ValueError(
                f"{where}(retry_after=...): expected seconds in [0, 86400) or None, "
                f"got {retry_after!r}"
            )
        lock = threading.Lock()
        sent = itertools.count()

        def answer(request: httpx.Request) -> httpx.Response:
            with lock:
                status = pending_errors.pop(0) if pending_errors else None
                if status is None:
                    reply = answers[min(next(sent), len(answers) - 1)]
            if status is not None:
                error_headers = {**headers, "content-type": "application/json"}
                if retry_after is not None:
                    error_headers["retry-after"] = f"{retry_after:g}"
                    error_headers["retry-after-ms"] = f"{retry_after * 1000:g}"
                return httpx.Response(status, headers=error_headers, content=error_body(status))
            body = request.content
            if not wants_stream(body):
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

        route = self.route(method="POST", path__regex=path, name=where, latency=latency_ms)
        route.ttfb_fallback = True  # type: ignore[attr-defined]
        route.mock(side_effect=answer)
        return route

    def _routers_after(self) -> list[Any]:
        """The other routers respx would try after this one for the request at hand (the
        user's ``respx_mock`` or ``with respx.mock:``, active beside ``ttfb_mock``)."""
        routers: list[Any] = (_resolving_for.get() or HTTPCoreMocker).routers
        return routers[routers.index(self) + 1 :] if self in routers else []

    def _own(self, request: httpx.Request, phase: str) -> Any:
        """This router's answer among the ``phase``'s routes, or None: no route matched."""
        token = _phase.set(phase)
        try:
            return super().resolve(request)
        except AllMockedAssertionError:
            return None
        finally:
            _phase.reset(token)

    async def _aown(self, request: httpx.Request, phase: str) -> Any:
        token = _phase.set(phase)
        try:
            return await super().aresolve(request)
        except AllMockedAssertionError:
            return None
        finally:
            _phase.reset(token)

    def resolve(self, request: httpx.Request) -> Any:
        # The user's routes, then the routers respx would ask after this one (the
        # user's own), then the built-in provider routes: the user's answer wins.
        resolved = self._own(request, "own")
        if resolved is None:
            for router in self._routers_after():
                try:
                    return router.resolve(request)
                except AllMockedAssertionError:
                    continue
            resolved = self._own(request, "fallback")
        if resolved is None:
            raise _unmatched(request)
        delay = _latency_seconds(resolved.route)
        if delay:
            time.sleep(delay)
        return resolved

    async def aresolve(self, request: httpx.Request) -> Any:
        resolved = await self._aown(request, "own")
        if resolved is None:
            for router in self._routers_after():
                try:
                    return await router.aresolve(request)
                except AllMockedAssertionError:
                    continue
            resolved = await self._aown(request, "fallback")
        if resolved is None:
            raise _unmatched(request)
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
            start_swapped(mocker)

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
