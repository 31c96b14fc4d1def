"""recorder: ``Recorder``, what one test's instrumented clients recorded.

The transports hand the active recorder a raw in-flight object per request as soon as
its response headers arrive (or it fails), so a request is never lost even if the
caller abandons the stream; the ``RequestTiming`` is built from it when
``Recorder.requests`` is read, and kept current while its body is still being read.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from .record import RequestTiming
from .stacks import instrument

__all__ = ["Recorder"]

_Client = TypeVar("_Client")


class _Pending(Protocol):
    """A request the transport saw, not yet turned into a record."""

    def timing(self) -> RequestTiming: ...


class Recorder:
    """The ``ttfb`` fixture: what one test's instrumented clients recorded."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        # Requests in the order their responses began (or failed). The transports
        # append raw in-flight objects to ``pending``; ``requests`` builds on read.
        self.pending: list[Any] = []
        self._requests: list[RequestTiming] = []
        # The in-flight objects behind ``_requests``, index for index: the session
        # rechecks the ones still open when the test ended (late requests).
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
            # Slice, then delete the slice: another thread may append meanwhile.
            count = len(self.pending)
            batch: list[_Pending] = self.pending[:count]
            del self.pending[:count]
            self._requests.extend(item.timing() for item in batch)
            self.flights.extend(batch)
        return self._requests

    @property
    def new_connections(self) -> int:
        """How many connections the recorded requests opened."""
        return sum(1 for r in self.requests if r.new_connection)

    def watch(self, client: _Client) -> _Client:
        """Instrument ``client`` (httpx or httpx2, sync or async, or an Anthropic SDK
        client) and return it. Its requests are recorded for whichever test is running."""
        return instrument(client)
