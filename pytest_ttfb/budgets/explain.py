"""explain: why a budget was breached: each offending request's waterfall and hints."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from ..measure.calls import SdkCall
from ..measure.record import RequestTiming
from ..settings import Settings
from .judge import Verdict, fmt_ms, value_of, waited_without

__all__ = [
    "CONNECT_HINT_MS",
    "PRECEDENCE",
    "describe_failure",
    "hints",
    "ranked_hints",
    "waterfall",
]

CONNECT_HINT_MS = 80.0
POOL_WAIT_HINT_MS = 5.0
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
        lines.append(f"    {name:<20}|{bar}| {fmt_ms(stop - start):>7} ms")
    return lines


# The causes ``hints`` recognises, and for each budget kind the order in which they
# explain a breach, best first (README: "Which hint comes first"). A cause missing
# from a row still shows, after the ones listed.
HTTP1_CONCURRENCY = "http1_concurrency"  # HTTP/1.1 and requests in flight together
KEEPALIVE_EXPIRY = "keepalive_expiry"  # the idle connection expired between calls
NO_REUSE = "no_reuse"  # a new connection although one had been used before
POOL_WAIT = "pool_wait"  # waited for a connection from the pool
HTTP1 = "http1"  # HTTP/1.1 although HTTP/2 was asked for (no concurrency seen)
FAR_SERVER = "far_server"  # the TCP connect alone took over CONNECT_HINT_MS

_TIME_ORDER = (POOL_WAIT, KEEPALIVE_EXPIRY, NO_REUSE, HTTP1_CONCURRENCY, HTTP1, FAR_SERVER)
PRECEDENCE: dict[str, tuple[str, ...]] = {
    "max_new_connections": (
        HTTP1_CONCURRENCY,
        KEEPALIVE_EXPIRY,
        NO_REUSE,
        POOL_WAIT,
        HTTP1,
        FAR_SERVER,
    ),
    "max_ttfb": _TIME_ORDER,
    "max_first_token": _TIME_ORDER,
    "max_total": _TIME_ORDER,
    # The stream and SDK-call budgets: the same causes, when their requests show one.
    "max_itl": _TIME_ORDER,
    "max_tpot": _TIME_ORDER,
    "min_tokens_per_s": _TIME_ORDER,
    "max_retries": _TIME_ORDER,
    "max_call": _TIME_ORDER,
    "max_connect": (FAR_SERVER, POOL_WAIT, KEEPALIVE_EXPIRY, NO_REUSE, HTTP1_CONCURRENCY, HTTP1),
}
HTTPX_DEFAULT_KEEPALIVE_S = 5.0  # httpx's, which the Anthropic SDK keeps


def _emulated_rtt(record: RequestTiming, settings: Settings) -> str:
    """Which emulated RTT the record's host paid, as the user set it."""
    host = (urlsplit(record.url).hostname or "").lower()
    for name, rtt in settings.regions:
        if host == name or host.startswith(name + "."):
            return f"the emulated RTT of region {name} (ttfb_regions {name}:{rtt:g})"
    return f"the emulated RTT (--ttfb-rtt={settings.rtt_ms:g})"


def _in_flight_together(record: RequestTiming, requests: Sequence[RequestTiming]) -> int:
    """How many HTTP/1.1 requests to the record's origin (itself included) were in
    flight while it was."""
    return sum(
        1
        for r in requests
        if r.origin == record.origin
        and r.connection_id is not None
        and r.http_version == "HTTP/1.1"
        and r.started_at < record.ended_at
        and record.started_at < r.ended_at
    ) + (0 if any(r is record for r in requests) else 1)


def ranked_hints(
    record: RequestTiming,
    requests: Sequence[RequestTiming],
    marker: str | None = None,
    *,
    settings: Settings | None = None,
) -> list[tuple[str, str]]:
    """``(cause, hint)`` for each cause recognised from the records alone, ordered by
    how well it explains a breach of ``marker`` (``PRECEDENCE``)."""
    found: dict[str, str] = {}
    pool = record.pool
    stack = pool.stack if pool else "httpx"
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
                default = (
                    ", httpx's default and the Anthropic SDK's"
                    if expiry == HTTPX_DEFAULT_KEEPALIVE_S
                    else ""
                )
                found[KEEPALIVE_EXPIRY] = (
                    f"keep-alive expiry ({expiry:g} s{default}) is shorter than the "
                    f"{gap:.1f} s gap since the last request to {record.origin} ended, so "
                    "its connection was dropped: raise Limits(keepalive_expiry=...) above "
                    "the gap between calls"
                )
            else:
                found[NO_REUSE] = (
                    f"a new connection to {record.origin} although an earlier request had "
                    f"finished with one {gap:.2f} s before: no reuse. Is a new client made "
                    "per call? Share one client (the ttfb_client fixture, or one "
                    "Anthropic() per process)"
                )
    # Only a record with a connection says what the server negotiated: responses from
    # a mocking library (pytest-httpx says HTTP/1.1) have none.
    if record.http_version == "HTTP/1.1" and record.connection_id is not None:
        if pool is not None and pool.http2 and record.url.startswith("https:"):
            why = (
                "HTTP/1.1 was negotiated although the client asked for HTTP/2: is the h2 "
                f"package installed (pip install '{stack}[http2]')? Otherwise the server "
                "did not offer h2"
            )
        elif pool is not None and not pool.http2:
            why = (
                "the client speaks HTTP/1.1 only: "
                f"{stack}.Client(http2=True), with pip install '{stack}[http2]'"
            )
        else:
            why = ""
        together = _in_flight_together(record, requests)
        if together > 1 and record.new_connection:
            found[HTTP1_CONCURRENCY] = (
                f"{together} requests to {record.origin} were in flight at once over "
                "HTTP/1.1, which carries one at a time per connection, so each opened "
                "its own" + (f"; {why}" if why else "; HTTP/2 would carry them on one")
            )
        elif why:
            found[HTTP1] = why
    if HTTP1_CONCURRENCY in found:
        # The idle connection was not reused because another request in flight took it,
        # not because the client was made anew.
        found.pop(NO_REUSE, None)
    wait = record.pool_wait_ms or 0.0
    if wait > POOL_WAIT_HINT_MS and wait > 0.1 * (record.ttfb_ms or 0.0):
        if pool is not None and pool.max_connections is not None:
            found[POOL_WAIT] = (
                f"{fmt_ms(wait)} ms waiting for a connection from the pool: "
                f"max_connections={pool.max_connections} is below the concurrency; raise "
                "Limits(max_connections=...) or enable HTTP/2"
            )
        else:
            limit = "unlimited" if pool is not None else "unknown"
            found[POOL_WAIT] = (
                f"{fmt_ms(wait)} ms waiting for a connection from the pool "
                f"(max_connections {limit}): it waited for a connection being opened"
            )
    tcp = record.tcp_connect_ms
    if tcp is not None and tcp > CONNECT_HINT_MS:
        if settings is not None and settings.mode == "emulate":
            found[FAR_SERVER] = (
                f"TCP connect took {fmt_ms(tcp)} ms (over {CONNECT_HINT_MS:g} ms): the server "
                f"is far, by {_emulated_rtt(record, settings)}: what a caller that far "
                "would pay"
            )
        else:
            found[FAR_SERVER] = (
                f"TCP connect took {fmt_ms(tcp)} ms (over {CONNECT_HINT_MS:g} ms): the server "
                "is far from this machine; pin a base URL near the caller "
                "(ANTHROPIC_BASE_URL or --ttfb-base-url)"
            )
    order = PRECEDENCE.get(marker or "", _TIME_ORDER)
    ranked = sorted(
        found.items(),
        key=lambda item: order.index(item[0]) if item[0] in order else len(order),
    )
    return ranked


def hints(
    record: RequestTiming,
    requests: Sequence[RequestTiming],
    marker: str | None = None,
    *,
    settings: Settings | None = None,
) -> list[str]:
    """The hints for one offending request, the likeliest cause of a ``marker``
    breach first (``PRECEDENCE``)."""
    return [text for _, text in ranked_hints(record, requests, marker, settings=settings)]


def _describe_request(record: RequestTiming, index: int) -> str:
    if record.connection_id is None:
        if record.reused:
            connection = "a connection opened before the client was watched"
        elif record.status is not None:
            connection = "mocked: no connection"
        else:
            connection = "no connection: failed before getting one"
    elif record.reused:
        connection = f"reused connection {record.connection_id}"
    else:
        connection = f"new connection {record.connection_id}"
    status = record.status if record.status is not None else (record.error or "no response")
    return (
        f"  #{index} {record.method} {record.url}  [{connection}, "
        f"{record.http_version or 'no HTTP version'}, {status}]"
    )


def _call_lines(call: SdkCall, in_call: Sequence[RequestTiming]) -> list[str]:
    """An SDK call: its attempts, each with its status, and the backoff between them."""
    lines = [f"  {call.describe()}"]
    previous_end: float | None = None
    for attempt in call.attempts:
        position = next((i for i, r in enumerate(in_call, 1) if r is attempt), 0)
        offset = (attempt.started_at - call.started_at) * 1000.0
        waited = (
            f", after {fmt_ms((attempt.started_at - previous_end) * 1000.0)} ms of backoff"
            if previous_end is not None
            else ""
        )
        status = attempt.status if attempt.status is not None else (attempt.error or "no response")
        lines.append(
            f"    attempt {attempt.attempt or 1} (#{position}): {status} at +{fmt_ms(offset)} ms, "
            f"{fmt_ms(attempt.total_ms or attempt.ttfb_ms or 0.0)} ms{waited}"
        )
        previous_end = attempt.ended_at
    return lines


def _over_line(verdict: Verdict, record: RequestTiming, scale: float) -> list[str]:
    """The figure that breached, for one offending request."""
    budget = verdict.budget
    if budget.field is None:
        return []
    limit = budget.scaled(scale)
    value = value_of(budget)(record)
    if value is None:
        waited = waited_without(budget, record)
        if waited is None or waited <= limit:
            return []
        what = "first byte" if budget.field == "ttfb_ms" else "first token"
        return [f"    no {what} after {fmt_ms(waited)} ms ({record.error}) > budget {limit:g} ms"]
    if budget.marker == "max_itl":
        over = sum(1 for gap in record.itl_ms or [] if gap > limit)
        return [
            f"    largest gap between chunks {fmt_ms(value)} ms > budget {limit:g} ms "
            f"({over} gap(s) over)"
        ]
    if budget.marker == "min_tokens_per_s":
        return [
            f"    tokens_per_s {value:.1f} < budget {limit:g} "
            f"({record.output_tokens} tokens in {fmt_ms(record.total_ms or 0.0)} ms)"
        ]
    name = budget.field if budget.rule is None else f"first token by rule {budget.rule!r}"
    return [f"    {name} {fmt_ms(value)} ms > budget {limit:g} ms"]


def describe_failure(
    verdicts: Sequence[Verdict],
    requests: Sequence[RequestTiming],
    scale: float = 1.0,
    limit: int = 3,
    *,
    settings: Settings | None = None,
) -> str:
    """The failure text: each breached budget, then its worst offending requests with a
    waterfall and the hints that apply, likeliest cause first. ``settings`` says the
    mode (emulate: the hints name the emulated RTT)."""
    in_call = [r for r in requests if r.when == "call"]
    failed = [v for v in verdicts if v.status == "fail"]
    lines = [
        f"pytest-ttfb: {failed[0].budget.describe(scale)} breached"
        if failed
        else "pytest-ttfb: no budget breached"
    ]
    for verdict in failed:
        budget = verdict.budget
        lines.append(f"{budget.describe(scale)}: {verdict.reason}")
        for call in verdict.calls[:limit]:
            lines.extend(_call_lines(call, in_call))
        if len(verdict.calls) > limit:
            lines.append(f"  ... and {len(verdict.calls) - limit} more call(s)")
        for record in verdict.offenders[:limit]:
            position = next(i for i, r in enumerate(in_call, 1) if r is record)
            lines.append(_describe_request(record, position))
            lines.extend(waterfall(record))
            lines.extend(_over_line(verdict, record, scale))
            found = hints(record, in_call, budget.marker, settings=settings)
            lines.extend(f"    hint: {hint}" for hint in found)
        if len(verdict.offenders) > limit:
            lines.append(f"  ... and {len(verdict.offenders) - limit} more request(s)")
    return "\n".join(lines)
