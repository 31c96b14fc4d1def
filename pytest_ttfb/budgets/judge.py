"""judge: verdicts on a test's requests, one per budget.

Rules, all in this module:

- A budget judges the requests made in the test's call phase (not fixture setup).
- ``max_ttfb``, ``max_first_token``, ``max_connect``, ``max_total`` judge the record
  field of the same name; by default every request must be within budget, with
  ``percentile=P`` the P-th percentile (nearest rank) must be. ``warm=True`` judges
  only requests that reused a connection (a mocked request has no connection, so it
  counts as warm).
- ``max_connect`` judges requests that opened a connection; ``max_new_connections``
  counts them (a request that opened one and then failed included). Where no request
  reached a connection the transport saw (all mocked, all failed before connecting,
  or all on connections opened before the client was watched) both are ``n/a``, and
  the reason says which.
- A test that recorded no request fails a budget, saying so; so does a budget with no
  request it applies to (a first-token budget with no streamed response).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..measure.record import RequestTiming
from ..stats import nearest_rank
from .kinds import Budget

__all__ = ["Verdict", "fmt_ms", "judge"]


@dataclass
class Verdict:
    budget: Budget
    status: str  # "pass", "fail" or "n/a"
    observed: float | None
    reason: str
    offenders: list[RequestTiming] = field(default_factory=list)


def fmt_ms(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _no_connection_reason(requests: Sequence[RequestTiming]) -> str | None:
    """Why no connection can be judged, from what the requests show; ``None`` when
    some request reached a connection the transport saw."""
    if any(r.connection_id is not None for r in requests):
        return None
    mocked = failed = unseen = 0
    for r in requests:
        if r.reused:  # a stream that is not ours: opened before the client was watched
            unseen += 1
        elif r.status is not None:  # answered without a connection: only a mock does that
            mocked += 1
        else:
            failed += 1
    if mocked == len(requests):
        return "no request reached a connection (all mocked)"
    parts = [
        f"{count} {what}"
        for count, what in (
            (mocked, "mocked"),
            (failed, "failed before getting a connection"),
            (unseen, "on a connection opened before the client was watched"),
        )
        if count
    ]
    return f"no request reached a connection the plugin saw opened ({', '.join(parts)})"


def _judge_one(budget: Budget, requests: Sequence[RequestTiming], scale: float) -> Verdict:
    if not requests:
        return Verdict(
            budget,
            "fail",
            None,
            "no request was recorded in the test: nothing to judge (is the client "
            "watched with ttfb.watch(), or one of the ttfb_* fixtures?)",
        )
    if budget.field is None:
        missing = _no_connection_reason(requests)
        if missing is not None:
            return Verdict(budget, "n/a", None, missing)
        opened = [r for r in requests if r.new_connection]
        status = "pass" if len(opened) <= budget.limit else "fail"
        return Verdict(
            budget,
            status,
            float(len(opened)),
            f"{len(opened)} new connection(s), budget {int(budget.limit)}",
            opened if status == "fail" else [],
        )

    name = budget.field
    assert name is not None
    limit = budget.limit * scale
    if budget.marker == "max_connect":
        missing = _no_connection_reason(requests)
        if missing is not None:
            return Verdict(budget, "n/a", None, missing)
        eligible = [r for r in requests if r.connect_ms is not None]
        if not eligible:
            return Verdict(budget, "pass", None, "no request opened a connection")
    else:
        eligible = [r for r in requests if getattr(r, name) is not None]
        if budget.warm:
            eligible = [r for r in eligible if r.reused or r.connection_id is None]
        if not eligible:
            what = {
                "first_token_ms": "streamed a first token",
                "total_ms": "finished reading its body",
            }.get(name, "received a response")
            if budget.warm:
                what += " on a reused connection"
            return Verdict(
                budget, "fail", None, f"no request {what}: the budget has nothing to judge"
            )
    values = [getattr(r, name) for r in eligible]
    if budget.percentile is None:
        observed = max(values)
        label = f"max of {len(values)}"
    else:
        observed = nearest_rank(values, budget.percentile)
        label = f"p{budget.percentile:g} of {len(values)}"
    offenders = sorted(
        (r for r in eligible if getattr(r, name) > limit),
        key=lambda r: getattr(r, name),
        reverse=True,
    )
    if observed <= limit:
        return Verdict(budget, "pass", observed, f"{label}: {fmt_ms(observed)} ms")
    return Verdict(
        budget,
        "fail",
        observed,
        f"{label}: {fmt_ms(observed)} ms > {limit:g} ms "
        f"({len(offenders)} of {len(values)} request(s) over budget)",
        offenders,
    )


def judge(
    budgets: Sequence[Budget], requests: Sequence[RequestTiming], scale: float = 1.0
) -> list[Verdict]:
    """One verdict per budget, on the call-phase requests."""
    in_call = [r for r in requests if r.when == "call"]
    return [_judge_one(budget, in_call, scale) for budget in budgets]
