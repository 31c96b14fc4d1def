"""recorder: ``Recorder``, what one test's instrumented clients recorded.

The transports hand the active recorder a raw in-flight object per request as soon as
its response headers arrive (or it fails), so a request is never lost even if the
caller abandons the stream; the ``RequestTiming`` is built from it when
``Recorder.requests`` is read, and kept current while its body is still being read.
"""

from __future__ import annotations

import threading
from itertools import repeat
from time import perf_counter, time
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from .record import RequestTiming

__all__ = ["Recorder"]

_Client = TypeVar("_Client")


class _Pending(Protocol):
    """A request the transport saw, not yet turned into a record."""

    end: float | None

    def timing(self, clock_offset: float | None = None) -> RequestTiming: ...


# Building records is rare (on read, and every 1,024 requests): one lock for all.
_building = threading.Lock()
# ``inflight.build_record``, looked up when records are first built: the plugin loads
# this module at start-up, the request machinery only once a client is watched.
_build_record: Callable[[Any, float], RequestTiming] | None = None


def _builder() -> Callable[[Any, float], RequestTiming]:
    global _build_record
    from .inflight import build_record

    _build_record = build_record
    return build_record


class Recorder:
    """The ``ttfb`` fixture: what one test's instrumented clients recorded."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        # Requests in the order their responses began (or failed). The transports
        # append raw in-flight objects to ``pending``; ``requests`` builds on read.
        self.pending: list[Any] = []
        self._requests: list[RequestTiming] = []
        # The in-flight objects of requests still open when their record was built:
        # the session rechecks them when the test ends (late requests). Finished ones
        # are not kept: their records hold all there is.
        self.flights: list[Any] = []
        self.unmatched: list[str] = []
        # What went wrong in the plugin's hands (a misused fixture...): fails the test
        # even when the code under test swallowed the exception.
        self.failures: list[str] = []
        self.when = "setup"  # the test phase now running; each record notes it

    def __repr__(self) -> str:
        return f"<Recorder {self.nodeid} requests={len(self.requests)}>"

    @property
    def requests(self) -> list[RequestTiming]:
        """One ``RequestTiming`` per request this test made through a watched client."""
        if self.pending:
            with _building:  # one builder at a time: each record is built once
                # Slice, then delete the slice: transports may append meanwhile.
                count = len(self.pending)
                batch: list[_Pending] = self.pending[:count]
                del self.pending[:count]
                # One reading of the wall clock's offset for every record built now.
                offset = time() - perf_counter()
                build = _build_record or _builder()
                self._requests.extend(map(build, batch, repeat(offset)))
                # Keep watching only what is still open (a body being read).
                flights = [item for item in self.flights if item.end is None]
                flights.extend(item for item in batch if item.end is None)
                self.flights = flights
        return self._requests

    def compact(self) -> None:
        """Build the records waiting in ``pending`` now. The transports call this every
        ``active.COMPACT_AT`` requests, so that what a request in flight holds (its request
        and response objects) is let go early and a test of 100,000 requests keeps
        100,000 small records, not 100,000 requests."""
        self.requests  # noqa: B018  (reading builds them)

    @property
    def new_connections(self) -> int:
        """How many connections the recorded requests opened."""
        return sum(1 for r in self.requests if r.new_connection)

    def watch(self, client: _Client) -> _Client:
        """Instrument ``client`` (httpx or httpx2, sync or async, or an Anthropic SDK
        client) and return it. Its requests are recorded for whichever test is running."""
        from .stacks import instrument  # the HTTP stacks load when a client is watched

        return instrument(client)
