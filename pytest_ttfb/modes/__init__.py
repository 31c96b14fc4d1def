"""modes: where a test's requests go.

- ``mock`` (default): ``TtfbRouter``, a respx router for both stacks, in-process.
- ``emulate``: the same routes answered by a local TLS + HTTP/2 server (``server``)
  behind relays that add round-trip time.
- live: nothing is intercepted.

This module only chooses; it imports a mode's module when that mode is used, so that
loading the plugin loads neither respx nor hypercorn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .emulate import Emulator
    from .mock import TtfbRouter

__all__ = ["emulated_network", "needs_mock", "serving"]


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
    router.mode = mode
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
    from ..measure.network import use_network
    from .emulate import Emulator, Region

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
