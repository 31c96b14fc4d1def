"""calls: the attempts of one SDK call, grouped from the records.

The Anthropic and OpenAI SDKs retry a failed request on their own, with a backoff
between attempts, and say which attempt a request is in the ``x-stainless-retry-count``
header (``RequestTiming.attempt``: 1, 2, 3...). A call is its attempts plus the time
between them: a record with attempt 1 (or no attempt header) starts a call; attempt
k > 1 continues the latest call of the same method and URL (the earliest-started
first), else starts one of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .record import RequestTiming

__all__ = ["SdkCall", "sdk_calls"]


@dataclass(eq=False)
class SdkCall:
    """One SDK call: its attempts, in the order they started."""

    index: int  # 1-based, in the order the calls started
    attempts: list[RequestTiming] = field(default_factory=list)

    @property
    def retries(self) -> int:
        """Attempts beyond the first."""
        return len(self.attempts) - 1

    @property
    def started_at(self) -> float:
        return self.attempts[0].started_at

    @property
    def duration_ms(self) -> float:
        """The first attempt's start to the last attempt's end, backoff included."""
        end = max(r.ended_at for r in self.attempts)
        return (end - self.started_at) * 1000.0

    def describe(self) -> str:
        count = len(self.attempts)
        noun = "attempt" if count == 1 else "attempts"
        extra = " incl. backoff" if count > 1 else ""
        return f"call #{self.index}: {count} {noun}, {self.duration_ms:,.0f} ms{extra}"


def sdk_calls(records: Sequence[RequestTiming]) -> list[SdkCall]:
    """The calls ``records`` (one test's) make up, in the order they started."""
    calls: list[SdkCall] = []
    latest: dict[tuple[str, str], SdkCall] = {}
    for record in sorted(records, key=lambda r: r.started_at):
        key = (record.method, record.url)
        call = latest.get(key) if (record.attempt or 1) > 1 else None
        if call is None:
            call = SdkCall(len(calls) + 1)
            calls.append(call)
            latest[key] = call
        call.attempts.append(record)
    return calls
