"""stacks: the wrappers bound to each installed HTTP stack, and ``instrument()``.

Two stacks share one implementation: httpx on httpcore, and httpx2 on httpcore2 (the
Anthropic and OpenAI SDKs' current stack). For each stack the wrappers of ``_sync``
and ``_async`` are derived once with that stack's base classes, because httpx asserts
the types of response streams; the methods all live in ``_sync`` / ``_async``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from . import _async, _sync

__all__ = ["Stack", "available_stacks", "instrument", "instrumented_any"]

_STACK_MODULES = (("httpx2", "httpcore2"), ("httpx", "httpcore"))
_Client = TypeVar("_Client")


@dataclass(frozen=True)
class Stack:
    """One HTTP stack's client module and its instrumented transport classes."""

    httpx: ModuleType
    sync_transport: type
    async_transport: type


def _derive(ours: type, base: type, **partners: Any) -> type:
    """``ours`` with ``base`` behind it (so ours wins), naming its partner classes."""
    namespace = {"__module__": ours.__module__, "__qualname__": ours.__qualname__, **partners}
    return type(ours.__name__, (ours, base), namespace)


def _response_streams(httpx: ModuleType) -> tuple[dict[str, Any], dict[str, Any]]:
    """The partners naming the stack's own response streams (sync, async) and the
    exception mapping they apply, for the byte streams to read past them; none if
    this version of the stack has them elsewhere (the byte streams then read through
    them, as any other stream)."""
    try:
        default = importlib.import_module(f"{httpx.__name__}._transports.default")
        mapping = staticmethod(default.map_httpcore_exceptions)
        sync_class, async_class = default.ResponseStream, default.AsyncResponseStream
    except (ImportError, AttributeError):
        return {}, {}
    return (
        {"stack_stream_class": sync_class, "map_exceptions": mapping},
        {"stack_stream_class": async_class, "map_exceptions": mapping},
    )


def _bind(httpx: ModuleType, httpcore: ModuleType) -> Stack:
    sync_streams, async_streams = _response_streams(httpx)
    stream = _derive(_sync.TimingNetworkStream, httpcore.NetworkStream)
    async_stream = _derive(_async.AsyncTimingNetworkStream, httpcore.AsyncNetworkStream)
    backend = _derive(_sync.TimingBackend, httpcore.NetworkBackend, stream_class=stream)
    async_backend = _derive(
        _async.AsyncTimingBackend, httpcore.AsyncNetworkBackend, stream_class=async_stream
    )
    transport = _derive(
        _sync.TimingTransport,
        httpx.BaseTransport,
        backend_class=backend,
        byte_stream_class=_derive(_sync.TimingByteStream, httpx.SyncByteStream, **sync_streams),
    )
    async_transport = _derive(
        _async.AsyncTimingTransport,
        httpx.AsyncBaseTransport,
        backend_class=async_backend,
        byte_stream_class=_derive(
            _async.AsyncTimingByteStream, httpx.AsyncByteStream, **async_streams
        ),
    )
    return Stack(httpx, transport, async_transport)


# Keyed by the module objects, so a re-imported httpx (pytester does that) gets its own.
_stacks: dict[tuple[int, int], Stack] = {}


def available_stacks() -> list[Stack]:
    """The stacks importable here (importing them on first call)."""
    found: list[Stack] = []
    for httpx_name, httpcore_name in _STACK_MODULES:
        try:
            httpx = importlib.import_module(httpx_name)
            httpcore = importlib.import_module(httpcore_name)
        except ImportError:
            continue
        key = (id(httpx), id(httpcore))
        if key not in _stacks:
            _stacks[key] = _bind(httpx, httpcore)
        if _stacks[key] not in found:  # httpx2.alias_httpx() makes both names one stack
            found.append(_stacks[key])
    return found


class _Instrumented:
    __slots__ = ("any",)

    def __init__(self) -> None:
        self.any = False


_instrumented = _Instrumented()


def instrumented_any() -> bool:
    """Whether any client was instrumented in this process (so a request may be in
    flight somewhere)."""
    return _instrumented.any


def _wrap_transports(client: Any, transport_class: type) -> None:
    _instrumented.any = True
    if not isinstance(client._transport, transport_class):
        client._transport = transport_class(client._transport)
    for pattern, transport in list(client._mounts.items()):
        if transport is not None and not isinstance(transport, transport_class):
            client._mounts[pattern] = transport_class(transport)


def instrument(client: _Client) -> _Client:
    """Instrument an httpx/httpx2 ``Client`` or ``AsyncClient``, or an SDK client that
    holds one (``anthropic.Anthropic``, ``AsyncAnthropic``, ``openai.OpenAI``...), in
    place, and return it. Instrumenting twice is harmless."""
    stacks = available_stacks()
    for stack in stacks:
        if isinstance(client, stack.httpx.Client):
            _wrap_transports(client, stack.sync_transport)
            return client
        if isinstance(client, stack.httpx.AsyncClient):
            _wrap_transports(client, stack.async_transport)
            return client
    inner = getattr(client, "_client", None)
    if inner is not None and any(
        isinstance(inner, (stack.httpx.Client, stack.httpx.AsyncClient)) for stack in stacks
    ):
        instrument(inner)
        return client
    raise TypeError(
        "ttfb.watch() takes an httpx or httpx2 Client or AsyncClient, or an SDK client "
        f"built on one (anthropic.Anthropic, AsyncAnthropic); got {type(client).__qualname__}"
    )
