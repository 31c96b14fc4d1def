"""doctor: the client settings that defeat the recipe, read off what the suite recorded.

Every record carries the settings of the pool it went through (``PoolSettings``), so
after the run each client configuration the suite used can be checked against the
recipe: keep-alive expiry, HTTP/2, and ``max_connections`` against the concurrency
actually seen. Each finding comes with its one-line fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .measure.record import PoolSettings, RequestTiming

__all__ = ["ClientReport", "Finding", "diagnose"]

RECIPE_KEEPALIVE_S = 60.0
# httpx's default keep-alive expiry, which the Anthropic SDK keeps: 5 s.
SHORT_KEEPALIVE_S = 5.0


@dataclass(frozen=True)
class Finding:
    problem: str
    fix: str


@dataclass
class ClientReport:
    """One client configuration, where the suite used it, and what is wrong with it."""

    pool: PoolSettings
    tests: list[str] = field(default_factory=list)
    requests: int = 0
    findings: list[Finding] = field(default_factory=list)

    def describe(self) -> str:
        expiry = self.pool.keepalive_expiry
        limit = self.pool.max_connections
        return (
            f"{self.pool.stack} client with http2={self.pool.http2}, "
            f"max_connections={'unlimited' if limit is None else limit}, "
            f"keepalive_expiry={'none' if expiry is None else f'{expiry:g} s'} "
            f"({self.requests} request(s) in {len(self.tests)} test(s))"
        )


def peak_concurrency(requests: Sequence[RequestTiming]) -> int:
    """The most requests in flight at once (from start to body closed)."""
    edges: list[tuple[float, int]] = []
    for request in requests:
        edges += [(request.started_at, 1), (request.ended_at, -1)]
    peak = current = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        current += step
        peak = max(peak, current)
    return peak


def _findings(pool: PoolSettings, by_test: dict[str, list[RequestTiming]]) -> list[Finding]:
    found: list[Finding] = []
    expiry = pool.keepalive_expiry
    if expiry is not None and expiry <= SHORT_KEEPALIVE_S:
        default = (
            " (httpx's default, and the Anthropic SDK's)" if expiry == SHORT_KEEPALIVE_S else ""
        )
        found.append(
            Finding(
                f"keep-alive expiry of {expiry:g} s{default}: "
                "a pause longer than that between calls pays TCP + TLS again",
                f"Limits(keepalive_expiry={RECIPE_KEEPALIVE_S:g})",
            )
        )
    every = [r for requests in by_test.values() for r in requests]
    # Only records with a connection say what a server negotiated: a mocking library's
    # responses (pytest-httpx labels them HTTP/1.1) have none.
    https = [
        r
        for r in every
        if r.url.startswith("https:") and r.http_version and r.connection_id is not None
    ]
    if not pool.http2:
        found.append(
            Finding(
                "HTTP/2 off: concurrent calls each need a connection (and a handshake) of "
                "their own",
                f"{pool.stack}.Client(http2=True), with the h2 package installed "
                f"(pip install '{pool.stack}[http2]')",
            )
        )
    elif https and all(r.http_version == "HTTP/1.1" for r in https):
        found.append(
            Finding(
                "HTTP/2 asked for, but every response came over HTTP/1.1: the server did not "
                "offer h2",
                "a base URL whose server speaks HTTP/2",
            )
        )
    if pool.max_connections is not None:
        peaks = {
            test: peak_concurrency([r for r in requests if r.http_version != "HTTP/2"])
            for test, requests in by_test.items()
        }
        test, peak = max(peaks.items(), key=lambda item: item[1], default=("", 0))
        if peak > pool.max_connections:
            found.append(
                Finding(
                    f"max_connections={pool.max_connections} is below the {peak} concurrent "
                    f"HTTP/1.1 requests seen in {test}: the rest waited for the pool",
                    f"Limits(max_connections={peak}), or http2=True",
                )
            )
    return found


def diagnose(tests: Iterable[tuple[str, Sequence[RequestTiming]]]) -> list[ClientReport]:
    """A report for each client configuration that has something to fix."""
    pools: dict[PoolSettings, dict[str, list[RequestTiming]]] = {}
    for nodeid, requests in tests:
        for request in requests:
            if request.pool is not None:
                pools.setdefault(request.pool, {}).setdefault(nodeid, []).append(request)
    reports = []
    for pool, by_test in pools.items():
        findings = _findings(pool, by_test)
        if findings:
            reports.append(
                ClientReport(pool, list(by_test), sum(len(r) for r in by_test.values()), findings)
            )
    return reports
