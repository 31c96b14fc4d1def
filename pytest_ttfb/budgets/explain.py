"""explain: why a budget was breached: each offending request's waterfall and hints."""

from __future__ import annotations

from collections.abc import Sequence

from ..measure.record import RequestTiming
from .judge import Verdict, fmt_ms

__all__ = ["CONNECT_HINT_MS", "describe_failure", "hints", "waterfall"]

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
            f"{fmt_ms(wait)} ms waiting for a connection from the pool: {limit}is below the "
            "concurrency; raise Limits(max_connections=...) or enable HTTP/2"
        )
    tcp = record.tcp_connect_ms
    if tcp is not None and tcp > CONNECT_HINT_MS:
        found.append(
            f"TCP connect took {fmt_ms(tcp)} ms (over {CONNECT_HINT_MS:g} ms): the server "
            "is far from this machine; pin a base URL near the caller "
            "(ANTHROPIC_BASE_URL or --ttfb-base-url)"
        )
    return found


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
                    f"    {field_name} {fmt_ms(value)} ms > budget "
                    f"{verdict.budget.limit * scale:g} ms"
                )
            lines.extend(f"    hint: {hint}" for hint in hints(record, in_call))
        if len(verdict.offenders) > limit:
            lines.append(f"  ... and {len(verdict.offenders) - limit} more request(s)")
    return "\n".join(lines)
