"""clients: the pooled, instrumented clients and SDK clients the session fixtures hand out.

The recipe (``settings.RECIPE``): one shared client with generous limits, a long
keep-alive, HTTP/2 and bounded timeouts; each overridable by an ini key. Which stack
an SDK client sits on follows the installed SDK: anthropic 0.x runs on httpx,
anthropic 1.x and later on httpx2; openai 1.x and 2.x on httpx, 3.x and later on
httpx2.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
from collections.abc import Iterator
from importlib import metadata
from types import ModuleType
from typing import Any

import pytest

from .measure.loop_guard import guard_event_loop
from .measure.stacks import instrument
from .providers import anthropic as _anthropic
from .providers import openai as _openai
from .settings import PoolConfig, Settings

__all__ = [
    "anthropic_client",
    "anthropic_stack",
    "close_async",
    "import_or_fail",
    "openai_client",
    "openai_stack",
    "pooled_client",
    "session_client",
]

# What to install for each package a fixture needs, and what needs it.
_INSTALL = {
    "httpx": "pip install httpx",
    "httpx2": "pip install httpx2",
    "h2": "pip install h2",
    "anthropic": "pip install 'pytest-ttfb[anthropic]'",
    "openai": "pip install 'pytest-ttfb[openai]'",
    "hypercorn": "pip install 'pytest-ttfb[emulate]'",
    "trustme": "pip install 'pytest-ttfb[emulate]'",
}


def import_or_fail(name: str, needed_by: str) -> ModuleType:
    """Import ``name`` for ``needed_by``, or fail the test with the line that fixes it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        install = _INSTALL.get(name, f"pip install {name}")
        message = f"pytest-ttfb: {needed_by} needs {name}, which is not installed: {install}"
    # Outside the except block: the message is all there is to say, no traceback.
    pytest.fail(message, pytrace=False)


def pooled_client(
    module: Any, config: PoolConfig, *, asynchronous: bool = False, name: str = "client"
) -> Any:
    """An instrumented ``Client`` (or ``AsyncClient``) of ``module`` (httpx or httpx2).
    An async one refuses to run on a second event loop (it is shared by the session)."""
    if config.http2:
        import_or_fail("h2", f"{name} (http2=True)")
    limits = module.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_keepalive_connections,
        keepalive_expiry=config.keepalive_expiry,
    )
    timeout = module.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=config.write_timeout,
        pool=config.pool_timeout,
    )
    client_class = module.AsyncClient if asynchronous else module.Client
    client = instrument(client_class(limits=limits, timeout=timeout, http2=config.http2))
    if asynchronous:
        guard_event_loop(client, name)
    return client


def session_client(
    pool: PoolConfig, package: str, name: str, *, asynchronous: bool
) -> Iterator[Any]:
    """A session fixture's pooled client of ``package`` (httpx or httpx2), closed when
    the session ends. ``name`` says, in errors, which fixture(s) it is."""
    module = import_or_fail(package, name.split(" ", 1)[0])
    client = pooled_client(module, pool, asynchronous=asynchronous, name=name)
    try:
        yield client
    finally:
        if asynchronous:
            close_async(client)
        else:
            client.close()


def _stack(package: str, httpx_majors: tuple[str, ...]) -> str:
    """The HTTP stack the installed ``package`` runs on, from its metadata (without
    importing it): ``httpx`` for the majors named, else ``httpx2``."""
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return "httpx2"
    return "httpx" if version.split(".", 1)[0] in httpx_majors else "httpx2"


def anthropic_stack() -> str:
    """The HTTP stack the installed anthropic SDK runs on: ``httpx`` for 0.x,
    ``httpx2`` from 1.0 on."""
    return _stack("anthropic", ("0",))


def openai_stack() -> str:
    """The HTTP stack the installed openai SDK runs on: ``httpx`` for 0.x to 2.x,
    ``httpx2`` from 3.0 on."""
    return _stack("openai", ("0", "1", "2"))


def _sdk_client(
    request: pytest.FixtureRequest,
    sdk_class: Any,
    stack: str,
    options: dict[str, Any],
    *,
    asynchronous: bool,
) -> Any:
    """``sdk_class`` on the session's pooled (async) client of ``stack``."""
    prefix = "ttfb" if stack == "httpx2" else "ttfb_httpx"
    pooled = request.getfixturevalue(
        f"{prefix}_async_client" if asynchronous else f"{prefix}_client"
    )
    return sdk_class(http_client=pooled, **options)


def anthropic_client(
    request: pytest.FixtureRequest, settings: Settings, *, asynchronous: bool
) -> Any:
    """An ``Anthropic`` (or ``AsyncAnthropic``) on the session's pooled client of the
    installed SDK's stack, pointed where the mode says; skipped in live mode without
    a key."""
    name = "async_anthropic_client" if asynchronous else "anthropic_client"
    anthropic = import_or_fail("anthropic", name)
    options, skip = _anthropic.client_options(settings.mode, settings.base_url, dict(os.environ))
    if skip:
        pytest.skip(skip)
    sdk_class = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    return _sdk_client(request, sdk_class, anthropic_stack(), options, asynchronous=asynchronous)


def openai_client(request: pytest.FixtureRequest, settings: Settings, *, asynchronous: bool) -> Any:
    """An ``OpenAI`` (or ``AsyncOpenAI``) on the session's pooled client of the
    installed SDK's stack, pointed where the mode says; skipped in live mode without
    ``OPENAI_API_KEY``."""
    name = "async_openai_client" if asynchronous else "openai_client"
    openai = import_or_fail("openai", name)
    options, skip = _openai.client_options(
        settings.mode, settings.openai_base_url, dict(os.environ)
    )
    if skip:
        pytest.skip(skip)
    sdk_class = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return _sdk_client(request, sdk_class, openai_stack(), options, asynchronous=asynchronous)


def close_async(client: Any) -> None:
    """Close a session-scoped async client after the session's event loops are gone:
    on a loop of its own. A connection opened on a loop that has closed since (a test's
    own) cannot be closed through it: its socket is closed here instead, rather than
    left to the garbage collector (a ResourceWarning, an open socket until then)."""
    _close_connections_of_closed_loops(client)
    with contextlib.suppress(Exception):
        asyncio.run(client.aclose())


def _close_connections_of_closed_loops(client: Any) -> None:
    """Best effort, through private attributes of httpcore(2), anyio and asyncio: a
    version that moved them leaves the connection to the garbage collector, as before."""
    inner = getattr(getattr(client, "_transport", None), "inner", None)
    for connection in list(getattr(getattr(inner, "_pool", None), "connections", ())):
        stream = getattr(getattr(connection, "_connection", None), "_network_stream", None)
        stream = getattr(stream, "_inner", stream)  # our timing stream -> httpcore's
        stream = getattr(stream, "_stream", None)  # -> anyio's (TLS) stream
        stream = getattr(stream, "transport_stream", stream)  # TLS -> its socket stream
        transport = getattr(stream, "_transport", None)  # -> asyncio's transport
        loop = getattr(transport, "_loop", None)
        if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_closed():
            with contextlib.suppress(Exception):
                # What the loop would have run next after transport.close(): close the
                # socket and let go of the protocol.
                transport._call_connection_lost(None)  # type: ignore[union-attr]
