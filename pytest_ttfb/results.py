"""results: what one test recorded and how its budgets fared (``TestResult``).

Every report is drawn from these; a pytest-xdist worker sends each to the controller
as plain data (``to_data`` / ``from_data``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time, loaded only by the functions that build them
    from .budgets.judge import Verdict
    from .budgets.kinds import Budget
    from .measure.record import RequestTiming

__all__ = ["TestResult"]


def records_to_data(records: list[RequestTiming]) -> list[dict[str, Any]]:
    return [r.to_data() for r in records]


def records_from_data(data: list[dict[str, Any]]) -> list[RequestTiming]:
    from .measure.record import RequestTiming

    return [RequestTiming.from_data(fields) for fields in data]


@dataclass
class TestResult:
    """What one test recorded and how its budgets fared."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    nodeid: str
    requests: list[RequestTiming]
    budgets: list[Budget] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    enforced: bool = True
    unmatched: list[str] = field(default_factory=list)
    # Which run of the test this is (pytest-rerunfailures runs a failed test again:
    # each attempt has its own records and verdicts), and whether it is the last one.
    attempt: int = 1
    final: bool = True
    # pytest's outcome of this attempt: "passed", "failed", "error" (setup or teardown
    # failed), "skipped", "xfailed" or "xpassed"; None until its reports are made.
    outcome: str | None = None
    # What failed a "failed" test: "budget" (a breach), "unmatched" (a request no
    # route answered), "test" (the test body raised).
    failed_by: list[str] = field(default_factory=list)
    called: bool = False  # its call phase ran
    uses_anthropic: bool = False  # it asked for anthropic_client / async_anthropic_client

    @property
    def ttfb_values(self) -> list[float]:
        """The TTFB of each request that has one (ms), in order: what the table's and
        the JUnit properties' percentiles are taken of."""
        return [r.ttfb_ms for r in self.requests if r.ttfb_ms is not None]

    @property
    def new_connections(self) -> int:
        return sum(1 for r in self.requests if r.new_connection)

    @property
    def reportable(self) -> bool:
        """Reports list the tests that sent a request, or declared a budget and ran."""
        return bool(self.requests or (self.budgets and self.called))

    @property
    def verdict(self) -> str:
        """The verdict column: never contradicts the test's outcome. A failed test is
        ``FAIL (...)`` naming what failed it; otherwise the budgets' verdict."""
        if self.outcome == "failed":
            return f"FAIL ({', '.join(self.failed_by or ['test'])})"
        if self.outcome == "error":
            return "ERROR"
        if self.outcome in ("skipped", "xfailed"):
            return self.outcome
        statuses = {v.status for v in self.verdicts}
        if "fail" in statuses:
            return "FAIL (budget)" if self.enforced else "over (not enforced)"
        if "pass" in statuses:
            return "pass"
        return "n/a" if statuses else "-"

    def to_data(self) -> dict[str, Any]:
        """Plain data, for a pytest-xdist worker to send to the controller on its report
        (the offending requests of a verdict stay behind: the worker already wrote the
        failure text)."""
        return {
            "nodeid": self.nodeid,
            "requests": records_to_data(self.requests),
            "budgets": [asdict(b) for b in self.budgets],
            "verdicts": [
                {
                    "budget": asdict(v.budget),
                    "status": v.status,
                    "observed": v.observed,
                    "reason": v.reason,
                }
                for v in self.verdicts
            ],
            "enforced": self.enforced,
            "unmatched": list(self.unmatched),
            "attempt": self.attempt,
            "final": self.final,
            "outcome": self.outcome,
            "failed_by": list(self.failed_by),
            "called": self.called,
            "uses_anthropic": self.uses_anthropic,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TestResult:
        from .budgets.judge import Verdict
        from .budgets.kinds import Budget

        return cls(
            nodeid=data["nodeid"],
            requests=records_from_data(data["requests"]),
            budgets=[Budget(**b) for b in data["budgets"]],
            verdicts=[
                Verdict(Budget(**v["budget"]), v["status"], v["observed"], v["reason"])
                for v in data["verdicts"]
            ],
            enforced=data["enforced"],
            unmatched=list(data["unmatched"]),
            attempt=data["attempt"],
            final=data["final"],
            outcome=data["outcome"],
            failed_by=list(data["failed_by"]),
            called=data["called"],
            uses_anthropic=data["uses_anthropic"],
        )
