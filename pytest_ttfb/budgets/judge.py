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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..measure.calls import SdkCall, sdk_calls
from ..measure.record import RequestTiming
from ..measure.scanner import RULES_FOR_SHAPE, SHAPE_NAMES, first_token_rule
from ..stats import nearest_rank
from .kinds import Budget

__all__ = ["Verdict", "fmt_ms", "judge", "value_of"]


@dataclass
class Verdict:
    budget: Budget
    status: str  # "pass", "fail" or "n/a"
    observed: float | None
    reason: str
    offenders: list[RequestTiming] = field(default_factory=list)
    calls: list[SdkCall] = field(default_factory=list)  # max_retries, max_call: over budget


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


def _streams_seen(requests: Sequence[RequestTiming]) -> str:
    """What the requests were, for a stream budget with nothing to judge: the shapes
    of their event streams, and those whose bodies came whole in memory."""
    shapes: dict[str, int] = {}
    for r in requests:
        if r.stream is not None:
            shapes[r.stream] = shapes.get(r.stream, 0) + 1
    parts = [
        f"{count} {SHAPE_NAMES.get(shape, shape)} stream(s)" for shape, count in shapes.items()
    ]
    seen = ", ".join(parts) if parts else "no stream of server-sent events"
    buffered = sum(1 for r in requests if r.buffered)
    if buffered:
        seen += f"; {buffered} {_BUFFERED}"
    return seen


_BUFFERED = (
    "response(s) came whole in memory (an in-process transport such as ASGITransport "
    "buffers the body): no chunk or first token can be timed in them"
)


def _buffered_note(requests: Sequence[RequestTiming], marker: str) -> str:
    if marker not in ("max_first_token", "max_itl", "max_tpot", "min_tokens_per_s"):
        return ""
    buffered = sum(1 for r in requests if r.buffered)
    return (
        f"; {buffered} buffered response(s) not judged: they came whole in memory"
        if buffered
        else ""
    )


def value_of(budget: Budget) -> Callable[[RequestTiming], float | None]:
    """What the budget reads from one record."""
    name = budget.field
    assert name is not None
    if budget.marker == "max_first_token" and budget.rule is not None:
        rule = budget.rule

        def by_rule(r: RequestTiming) -> float | None:
            found = r.first_token_by_rule or {}
            pick = RULES_FOR_SHAPE.get(r.stream or "", ("",))[0] if rule == "auto" else rule
            return found.get(pick)

        return by_rule
    if budget.marker == "max_itl":
        return lambda r: max(r.itl_ms or [], default=None)
    return lambda r: getattr(r, name)


# The budgets whose moment a failed request can be seen to have missed: it failed
# (read timeout, reset) before its first byte or first token, after waiting this long.
_WAITED_FOR = ("ttfb_ms", "first_token_ms")


def waited_without(budget: Budget, r: RequestTiming) -> float | None:
    """For a request that failed before the moment ``budget`` reads (no first byte; no
    first token of a stream, or of a request that failed before its headers), how long
    it had waited when it failed: a lower bound of that moment's time, so a wait beyond
    the limit is a breach. ``None`` for any other request."""
    if budget.field not in _WAITED_FOR or r.error is None or value_of(budget)(r) is not None:
        return None
    if r.ttfb_ms is not None and r.stream is None:  # answered, and no stream: no token due
        return None
    return r.total_ms


def _filtered(
    budget: Budget, requests: Sequence[RequestTiming]
) -> tuple[list[RequestTiming], Verdict | None]:
    """The requests a budget looks at (warm-up left out, warm or cold only), or the
    ``n/a`` verdict when a filter leaves none."""
    chosen = list(requests)
    if budget.warmup:
        chosen = sorted(chosen, key=lambda r: r.started_at)[budget.warmup :]
        if not chosen:
            return chosen, Verdict(
                budget,
                "n/a",
                None,
                f"all {len(requests)} request(s) were warm-up (warmup={budget.warmup})",
            )
    if budget.warm:
        # Mocked (answered without a connection) counts as warm; a request that failed
        # before getting a connection (refused, connect timeout) is neither warm nor cold.
        chosen = [r for r in chosen if r.reused or (r.connection_id is None and r.status)]
        if not chosen:
            return chosen, Verdict(budget, "n/a", None, "no request on a reused connection")
    if budget.cold:
        chosen = [r for r in chosen if r.new_connection]
        if not chosen:
            return chosen, Verdict(budget, "n/a", None, "no request opened a connection")
    return chosen, None


def _judge_calls(budget: Budget, requests: Sequence[RequestTiming], scale: float) -> Verdict:
    calls = sdk_calls(requests)
    if budget.marker == "max_retries":
        worst = max(call.retries for call in calls)
        over = sorted(
            (c for c in calls if c.retries > budget.limit), key=lambda c: c.retries, reverse=True
        )
        reason = (
            f"{len(calls)} SDK call(s), at most {worst} retr{'y' if worst == 1 else 'ies'} "
            f"in one, budget {int(budget.limit)}"
        )
        if over:
            reason += f" ({len(over)} call(s) over budget)"
        status = "fail" if over else "pass"
        return Verdict(budget, status, float(worst), reason, calls=over)
    limit = budget.scaled(scale)
    values = [c.duration_ms for c in calls]
    if budget.percentile is None:
        observed, label = max(values), f"max of {len(values)} call(s)"
    else:
        observed = nearest_rank(values, budget.percentile)
        label = f"p{budget.percentile:g} of {len(values)} call(s)"
    over = sorted((c for c in calls if c.duration_ms > limit), key=lambda c: -c.duration_ms)
    if observed <= limit:
        return Verdict(budget, "pass", observed, f"{label}: {fmt_ms(observed)} ms")
    return Verdict(
        budget,
        "fail",
        observed,
        f"{label}: {fmt_ms(observed)} ms > {limit:g} ms ({len(over)} of {len(values)} call(s) "
        "over budget, retries and backoff included)",
        calls=over,
    )


def _judge_rate(budget: Budget, eligible: Sequence[RequestTiming], scale: float) -> Verdict:
    limit = budget.scaled(scale)
    judged = [r for r in eligible if r.tokens_per_s is not None]
    values = [r.tokens_per_s for r in judged if r.tokens_per_s is not None]
    if not values:
        return Verdict(
            budget,
            "fail",
            None,
            "no stream reported its output tokens (a usage event): tokens/s has nothing to "
            f"judge (the test had {_streams_seen(eligible)})",
        )
    if budget.percentile is None:
        observed, label = min(values), f"min of {len(values)} stream(s)"
    else:
        # At least P % of the streams must reach the limit: the value the best
        # ceil(P/100 * n) of them reach. That is the nearest-rank (100 - P)th
        # percentile, except where P * n / 100 is whole: that percentile asks for one
        # stream more than P % of them.
        best = max(1, math.ceil(budget.percentile * len(values) / 100.0))
        observed = sorted(values)[len(values) - best]
        label = (
            f"at least {budget.percentile:g} % of {len(values)} stream(s) ({best}) must "
            f"reach it; the {best} best reach"
        )
    offenders = sorted(
        (r for r in judged if (r.tokens_per_s or 0.0) < limit), key=lambda r: r.tokens_per_s or 0.0
    )
    note = _buffered_note(eligible, budget.marker)
    if observed >= limit:
        return Verdict(budget, "pass", observed, f"{label}: {observed:.1f} tokens/s{note}")
    return Verdict(
        budget,
        "fail",
        observed,
        f"{label}: {observed:.1f} tokens/s < {limit:g} tokens/s ({len(offenders)} of "
        f"{len(values)} stream(s) below){note}",
        offenders,
    )


def _nothing(budget: Budget, eligible: Sequence[RequestTiming]) -> Verdict:
    if budget.marker == "max_first_token":
        rule = budget.rule or first_token_rule.name
        return Verdict(
            budget,
            "fail",
            None,
            f"no request streamed a first token by rule {rule!r}: the budget has nothing to "
            f"judge (the test had {_streams_seen(eligible)})",
        )
    if budget.marker == "max_itl":
        return Verdict(
            budget,
            "fail",
            None,
            "no stream had two content chunks or more: no gap to judge "
            f"(the test had {_streams_seen(eligible)})",
        )
    if budget.marker == "max_tpot":
        return Verdict(
            budget,
            "fail",
            None,
            "no stream had two content chunks (or output tokens) or more: no time per "
            f"output token to judge (the test had {_streams_seen(eligible)})",
        )
    what = {"total_ms": "finished reading its body"}.get(budget.field or "", "received a response")
    return Verdict(budget, "fail", None, f"no request {what}: the budget has nothing to judge")


def _judge_one(budget: Budget, requests: Sequence[RequestTiming], scale: float) -> Verdict:
    if not requests:
        return Verdict(
            budget,
            "fail",
            None,
            "no request was recorded in the test: nothing to judge (is the client "
            "watched with ttfb.watch(), or one of the ttfb_* fixtures?)",
        )
    chosen, skipped = _filtered(budget, requests)
    if skipped is not None:
        return skipped
    rule = budget.kind.rule
    if rule in ("retries", "call"):
        return _judge_calls(budget, chosen, scale)
    if rule == "connections":
        missing = _no_connection_reason(chosen)
        if missing is not None:
            return Verdict(budget, "n/a", None, missing)
        opened = [r for r in chosen if r.new_connection]
        status = "pass" if len(opened) <= budget.limit else "fail"
        return Verdict(
            budget,
            status,
            float(len(opened)),
            f"{len(opened)} new connection(s), budget {int(budget.limit)}",
            opened if status == "fail" else [],
        )
    if rule == "rate":
        return _judge_rate(budget, chosen, scale)

    limit = budget.scaled(scale)
    value = value_of(budget)
    if budget.marker == "max_connect":
        missing = _no_connection_reason(chosen)
        if missing is not None:
            return Verdict(budget, "n/a", None, missing)
        eligible = [r for r in chosen if r.connect_ms is not None]
        if not eligible:
            return Verdict(budget, "pass", None, "no request opened a connection")
    else:
        # A request that failed before the moment judged, having waited past the limit,
        # breached it by at least that wait (an SDK's retry can hide the failure from
        # the test); one that failed sooner says nothing and is left out.
        waited = {id(r): w for r in chosen if (w := waited_without(budget, r)) and w > limit}
        eligible = [r for r in chosen if value(r) is not None or id(r) in waited]
        if not eligible:
            return _nothing(budget, chosen)
        plain = value

        def value(r: RequestTiming) -> float | None:
            seen = plain(r)
            return waited.get(id(r)) if seen is None else seen

    if rule == "gaps":  # every gap of every stream is a sample
        values = [gap for r in eligible for gap in r.itl_ms or []]
        noun = "gap(s)"
    else:
        values = [v for v in map(value, eligible) if v is not None]
        noun = "request(s)"
    if budget.percentile is None:
        observed = max(values)
        label = f"max of {len(values)}"
    else:
        observed = nearest_rank(values, budget.percentile)
        label = f"p{budget.percentile:g} of {len(values)}"
    if rule == "gaps":
        label += " gaps"
    offenders = sorted(
        (r for r in eligible if (value(r) or 0.0) > limit),
        key=lambda r: value(r) or 0.0,
        reverse=True,
    )
    note = _buffered_note(chosen, budget.marker)
    if observed <= limit:
        return Verdict(budget, "pass", observed, f"{label}: {fmt_ms(observed)} ms{note}")
    over = sum(1 for v in values if v > limit)
    what = f"{over} of {len(values)} {noun} over budget"
    if rule == "gaps":
        what += f", in {len(offenders)} stream(s)"
    return Verdict(
        budget,
        "fail",
        observed,
        f"{label}: {fmt_ms(observed)} ms > {limit:g} ms ({what}){note}",
        offenders,
    )


def judge(
    budgets: Sequence[Budget], requests: Sequence[RequestTiming], scale: float = 1.0
) -> list[Verdict]:
    """One verdict per budget, on the call-phase requests."""
    in_call = [r for r in requests if r.when == "call"]
    return [_judge_one(budget, in_call, scale) for budget in budgets]
