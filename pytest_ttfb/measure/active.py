"""active: the recorder the transports record into while a test runs.

One test runs at a time in a pytest process; a plain module-level slot (not a
ContextVar) lets threads the test starts record into it too. The transports read it
on every request, so it is one attribute of one object, nothing more.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["COMPACT_AT", "Sink", "active", "active_sink", "set_active_sink"]

# A transport asks the recorder to build its pending records every this many requests.
COMPACT_AT = 1024


class Sink(Protocol):
    """What a transport needs of a recorder: where to put a request, which phase."""

    pending: list[Any]
    unmatched: list[str]
    failures: list[str]
    when: str

    def compact(self) -> None:
        """Turn what ``pending`` holds into records now."""


class _Active:
    __slots__ = ("sink",)

    def __init__(self) -> None:
        self.sink: Sink | None = None


active = _Active()


def active_sink() -> Sink | None:
    return active.sink


def set_active_sink(sink: Sink | None) -> None:
    active.sink = sink
