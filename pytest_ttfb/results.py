"""results: what one test recorded and how its budgets fared (``TestResult``).

Every report is drawn from these; a pytest-xdist worker sends each to the controller
as plain data (``to_data`` / ``from_data``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .budgets.judge import Verdict
from .budgets.kinds import Budget
from .measure.record import PoolSettings, RequestTiming

__all__ = ["TestResult"]


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

    @property
    def new_connections(self) -> int:
        return sum(1 for r in self.requests if r.new_connection)

    @property
    def reportable(self) -> bool:
        """Reports list the tests that sent a request or declared a budget."""
        return bool(self.requests or self.budgets)

    @property
    def verdict(self) -> str:
        statuses = {v.status for v in self.verdicts}
        if "fail" in statuses:
            return "FAIL" if self.enforced else "over (not enforced)"
        if "pass" in statuses:
            return "pass"
        return "n/a" if statuses else "-"

    def to_data(self) -> dict[str, Any]:
        """Plain data, for a pytest-xdist worker to send to the controller on its report
        (the offending requests of a verdict stay behind: the worker already wrote the
        failure text)."""
        return {
            "nodeid": self.nodeid,
            "requests": [asdict(r) for r in self.requests],
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
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TestResult:
        def timing(fields: dict[str, Any]) -> RequestTiming:
            pool = fields.pop("pool", None)
            return RequestTiming(**fields, pool=PoolSettings(**pool) if pool else None)

        return cls(
            nodeid=data["nodeid"],
            requests=[timing(dict(fields)) for fields in data["requests"]],
            budgets=[Budget(**b) for b in data["budgets"]],
            verdicts=[
                Verdict(Budget(**v["budget"]), v["status"], v["observed"], v["reason"])
                for v in data["verdicts"]
            ],
            enforced=data["enforced"],
            unmatched=list(data["unmatched"]),
        )
