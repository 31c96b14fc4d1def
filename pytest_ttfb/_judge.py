"""judge: budgets from markers, verdicts on a test's requests, and why a breach happened.

Rules, all in this module:

- A budget judges the requests made in the test's call phase (not fixture setup).
- ``max_ttfb``, ``max_first_token``, ``max_connect``, ``max_total`` judge the record
  field of the same name; by default every request must be within budget, with
  ``percentile=P`` the P-th percentile (nearest rank) must be. ``warm=True`` judges
  only requests that reused a connection (in mock mode there are no connections, so
  every request counts as warm).
- ``max_connect`` judges requests that opened a connection; ``max_new_connections``
  counts them. Where no connection was measured (mock mode) both are ``n/a``.
- A test that recorded no request fails a budget, saying so; so does a budget with no
  request it applies to (a first-token budget with no streamed response).
- Several marks of one name with the same ``percentile``/``warm`` are one budget: the
  closest to the test wins (a function's mark overrides its class's).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._store import RequestTiming

__all__ = [
    "MARKERS",
    "Budget",
    "BudgetError",
    "Verdict",
    "budgets_for",
    "describe_failure",
    "judge",
]

TIME_FIELDS = {
    "max_ttfb": "ttfb_ms",
    "max_first_token": "first_token_ms",
    "max_connect": "connect_ms",
    "max_total": "total_ms",
}
COUNT_MARKER = "max_new_connections"

MARKERS = {
    "max_ttfb": "max_ttfb(ms, *, percentile=None, warm=False): every request's time to "
    "first byte (or the given percentile; warm=True: reused connections only) "
    "within ms.",
    "max_first_token": "max_first_token(ms, *, percentile=None, warm=False): time to the "
    "first streamed token (content_block_delta) within ms.",
    "max_connect": "max_connect(ms, *, percentile=None): time until the TCP connection was "
    "established, for requests that opened one, within ms.",
    "max_total": "max_total(ms, *, percentile=None, warm=False): time until the response "
    "body was read, within ms.",
    COUNT_MARKER: "max_new_connections(n): at most n new connections during the test.",
}
CONNECT_HINT_MS = 80.0
POOL_WAIT_HINT_MS = 5.0


class BudgetError(ValueError):
    """A budget marker with arguments that make no budget."""


@dataclass(frozen=True)
class Budget:
    marker: str
    limit: float
    percentile: float | None = None
    warm: bool = False

    @property
    def field(self) -> str | None:
        return TIME_FIELDS.get(self.marker)

    def describe(self, scale: float = 1.0) -> str:
        if self.field is None:
            return f"{self.marker}({int(self.limit)})"
        parts = [f"{self.limit * scale:g} ms"]
        if self.percentile is not None:
            parts.append(f"p{self.percentile:g}")
        if self.warm:
            parts.append("warm")
        return f"{self.marker}({', '.join(parts)})"


@dataclass
class Verdict:
    budget: Budget
    status: str  # "pass", "fail" or "n/a"
    observed: float | None
    reason: str
    offenders: list[RequestTiming] = field(default_factory=list)


def _fmt(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_mark(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Budget:
    """A ``Budget`` from one marker's arguments; ``BudgetError`` says what is wrong."""
    kwargs = dict(kwargs)
    positional_name = "n" if name == COUNT_MARKER else "ms"
    if positional_name in kwargs:
        if args:
            raise BudgetError(f"{positional_name} given both by position and by keyword")
        args = (kwargs.pop(positional_name),)
    if len(args) != 1:
        raise BudgetError(f"takes exactly one {positional_name} argument, got {len(args)}")
    (limit,) = args
    allowed = {COUNT_MARKER: set(), "max_connect": {"percentile"}}.get(name, {"percentile", "warm"})
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "no keyword"
        raise BudgetError(f"unknown keyword {', '.join(unknown)} (accepts {accepted})")
    if name == COUNT_MARKER:
        if not (_is_number(limit) and limit >= 0 and limit == int(limit)):
            raise BudgetError(f"n must be a whole number >= 0, got {limit!r}")
        return Budget(name, float(limit))
    if not (_is_number(limit) and limit > 0):
        raise BudgetError(f"ms must be a positive number of milliseconds, got {limit!r}")
    percentile = kwargs.get("percentile")
    if percentile is not None and not (_is_number(percentile) and 0 < percentile <= 100):
        raise BudgetError(f"percentile must be a number in (0, 100], got {percentile!r}")
    warm = kwargs.get("warm", False)
    if not isinstance(warm, bool):
        raise BudgetError(f"warm must be True or False, got {warm!r}")
    return Budget(name, float(limit), None if percentile is None else float(percentile), warm)


def budgets_for(marks: Iterable[Any]) -> list[Budget]:
    """Budgets from an item's marks, closest first (``item.iter_markers()`` order).
    Raises ``BudgetError`` naming the first bad marker."""
    budgets: dict[tuple[str, float | None, bool], Budget] = {}
    for mark in marks:
        if mark.name not in MARKERS:
            continue
        try:
            budget = parse_mark(mark.name, mark.args, mark.kwargs)
        except BudgetError as exc:
            raise BudgetError(f"@pytest.mark.{mark.name}: {exc}") from None
        budgets.setdefault((budget.marker, budget.percentile, budget.warm), budget)
    return list(budgets.values())


def nearest_rank(values: Sequence[float], percentile: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _measured_connections(requests: Sequence[RequestTiming]) -> bool:
    return any(r.connection_id is not None for r in requests)


def _judge_one(budget: Budget, requests: Sequence[RequestTiming], scale: float) -> Verdict:
    if not requests:
        return Verdict(
            budget,
            "fail",
            None,
            "no request was recorded in the test: nothing to judge (is the client "
            "watched with ttfb.watch(), or one of the ttfb_* fixtures?)",
        )
    if budget.marker == COUNT_MARKER:
        if not _measured_connections(requests):
            return Verdict(budget, "n/a", None, "no connection was measured (mock mode)")
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
        if not _measured_connections(requests):
            return Verdict(budget, "n/a", None, "no connection was measured (mock mode)")
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
        return Verdict(budget, "pass", observed, f"{label}: {_fmt(observed)} ms")
    return Verdict(
        budget,
        "fail",
        observed,
        f"{label}: {_fmt(observed)} ms > {limit:g} ms "
        f"({len(offenders)} of {len(values)} request(s) over budget)",
        offenders,
    )


def judge(
    budgets: Sequence[Budget], requests: Sequence[RequestTiming], scale: float = 1.0
) -> list[Verdict]:
    """One verdict per budget, on the call-phase requests."""
    in_call = [r for r in requests if r.when == "call"]
    return [_judge_one(budget, in_call, scale) for budget in budgets]


# -- explaining a breach -------------------------------------------------------------

_BAR = 32


def waterfall(record: RequestTiming) -> list[str]:
    """The request's phases as text bars on one time axis."""
    spans = record.phases()
    end = max((stop for _, _, stop in spans), default=0.0) or 1.0
    lines = []
    for name, start, stop in spans:
        left = round(start / end * _BAR)
        width = max(1, round((stop - start) / end * _BAR))
        left = min(left, _BAR - width)
        bar = " " * left + "#" * width + " " * (_BAR - left - width)
        lines.append(f"    {name:<20}|{bar}| {_fmt(stop - start):>7} ms")
    return lines


def hints(record: RequestTiming, requests: Sequence[RequestTiming]) -> list[str]:
    """Causes we can recognise from the records alone."""
    found: list[str] = []
    pool = record.pool
    if record.new_connection:
        earlier = [
            r
            for r in requests
            if r is not record
            and r.origin == record.origin
            and r.total_ms is not None
            and r.ended_at <= record.started_at
        ]
        if earlier:
            gap = record.started_at - max(r.ended_at for r in earlier)
            expiry = pool.keepalive_expiry if pool else None
            if expiry is not None and gap > expiry:
                found.append(
                    f"keep-alive expiry ({expiry:g} s) is shorter than the {gap:.1f} s gap "
                    f"since the last request to {record.origin} ended, so its connection "
                    "was dropped: raise Limits(keepalive_expiry=...) above the gap between "
                    "calls (httpx's and the Anthropic SDK's default is 5 s)"
                )
            else:
                found.append(
                    f"a new connection to {record.origin} although an earlier request had "
                    f"finished with one {gap:.2f} s before: no reuse. Is a new client made "
                    "per call? Share one client (the ttfb_client fixture, or one "
                    "Anthropic() per process)"
                )
    if (
        pool is not None
        and pool.http2
        and record.http_version == "HTTP/1.1"
        and record.url.startswith("https:")
    ):
        found.append(
            "HTTP/1.1 was negotiated although the client asked for HTTP/2: is the h2 "
            "package installed (pip install 'httpx2[http2]')? Otherwise the server did "
            "not offer h2"
        )
    wait = record.pool_wait_ms or 0.0
    if wait > POOL_WAIT_HINT_MS and wait > 0.1 * (record.ttfb_ms or 0.0):
        limit = f"max_connections={pool.max_connections} " if pool else ""
        found.append(
            f"{_fmt(wait)} ms waiting for a connection from the pool: {limit}is below the "
            "concurrency; raise Limits(max_connections=...) or enable HTTP/2"
        )
    tcp = record.tcp_connect_ms
    if tcp is not None and tcp > CONNECT_HINT_MS:
        found.append(
            f"TCP connect took {_fmt(tcp)} ms (over {CONNECT_HINT_MS:g} ms): the server "
            "is far from this machine; pin a base URL near the caller "
            "(ANTHROPIC_BASE_URL or --ttfb-base-url)"
        )
    return found


def _describe_request(record: RequestTiming, index: int) -> str:
    if record.connection_id is None:
        connection = "mocked: no connection"
    elif record.reused:
        connection = f"reused connection {record.connection_id}"
    else:
        connection = f"new connection {record.connection_id}"
    status = record.status if record.status is not None else (record.error or "no response")
    return (
        f"  #{index} {record.method} {record.url}  [{connection}, "
        f"{record.http_version or 'no HTTP version'}, {status}]"
    )


def describe_failure(
    verdicts: Sequence[Verdict],
    requests: Sequence[RequestTiming],
    scale: float = 1.0,
    limit: int = 3,
) -> str:
    """The failure text: each breached budget, then its worst offending requests with a
    waterfall and the hints that apply."""
    in_call = [r for r in requests if r.when == "call"]
    failed = [v for v in verdicts if v.status == "fail"]
    lines = [
        f"pytest-ttfb: {failed[0].budget.describe(scale)} breached"
        if failed
        else "pytest-ttfb: no budget breached"
    ]
    for verdict in failed:
        lines.append(f"{verdict.budget.describe(scale)}: {verdict.reason}")
        for record in verdict.offenders[:limit]:
            position = next(i for i, r in enumerate(in_call, 1) if r is record)
            lines.append(_describe_request(record, position))
            lines.extend(waterfall(record))
            field_name = verdict.budget.field
            if field_name is not None:
                value = getattr(record, field_name)
                lines.append(
                    f"    {field_name} {_fmt(value)} ms > budget "
                    f"{verdict.budget.limit * scale:g} ms"
                )
            lines.extend(f"    hint: {hint}" for hint in hints(record, in_call))
        if len(verdict.offenders) > limit:
            lines.append(f"  ... and {len(verdict.offenders) - limit} more request(s)")
    return "\n".join(lines)
