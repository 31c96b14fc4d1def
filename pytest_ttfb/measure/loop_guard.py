"""loop_guard: a session-scoped async client stays on the event loop it started on."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from ..errors import EventLoopMismatch
from .active import active

if TYPE_CHECKING:
    import asyncio

__all__ = ["LoopGuard", "guard_event_loop"]


class LoopGuard:
    """Remembers the event loop a session-scoped async client first ran on, and stops
    it from being used on another: its pooled connections belong to the first loop,
    and on another they fail (the SDK would then retry quietly, on new connections)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def check(self) -> None:
        import asyncio  # here, not at import: loading the plugin must stay cheap

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
        sink = active.sink
        if sink is not None:
            sink.failures.append(message)
        raise EventLoopMismatch(message)


def guard_event_loop(client: Any, name: str) -> None:
    """Make the instrumented async ``client`` refuse to run on a second event loop."""
    transport: Any = getattr(client, "_transport", None)
    if hasattr(transport, "loop_guard"):
        transport.loop_guard = LoopGuard(name)
