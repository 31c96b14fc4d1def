"""probe: which base URL is fastest from here, before any test runs.

``pytest --ttfb-probe URL [URL ...]`` sends ``GET URL`` through instrumented httpx2
clients (HTTP/2 asked for), N times cold (a new client each time: DNS, TCP, TLS,
request) and N times warm (one client, its connection reused), and prints the medians
as curl's ``-w`` timers would, cumulative from the start of each request. It recommends
the URL with the lowest warm time to first byte (what most calls of an agent loop pay)
and warns when the TCP connect alone takes over 80 ms (a far server). In emulate mode
the probe runs on the emulated network, regions and all.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from .budgets.explain import CONNECT_HINT_MS
from .measure.active import active_sink, set_active_sink
from .measure.inflight import short_error
from .measure.record import RequestTiming
from .measure.recorder import Recorder
from .measure.stacks import instrument
from .modes import emulated_network
from .redact import redact_url, scrub
from .settings import PROBE_SAMPLES, Settings, check_number

__all__ = ["ProbeResult", "main", "probe", "report_lines"]


@dataclass
class ProbeResult:
    url: str
    cold: list[RequestTiming] = field(default_factory=list)
    warm: list[RequestTiming] = field(default_factory=list)
    error: str | None = None

    def median(self, which: str, name: str) -> float | None:
        values = [getattr(r, name) for r in getattr(self, which) if getattr(r, name) is not None]
        return statistics.median(values) if values else None

    @property
    def tcp_connect_ms(self) -> float | None:
        """Median TCP connect alone, over the cold samples."""
        return self.median("cold", "tcp_connect_ms")


def main(
    urls: Sequence[str], samples: int, settings: Settings, write: Callable[[str], object]
) -> int:
    """The probe as ``pytest --ttfb-probe`` runs it: 0 when a URL answered, else 1."""
    for url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError on a port out of range)
        except ValueError as exc:
            raise pytest.UsageError(
                f"--ttfb-probe: {redact_url(url)!r} is not a URL: {exc}"
            ) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise pytest.UsageError(
                f"--ttfb-probe: {redact_url(url)!r} is not an http:// or https:// URL"
            )
    samples = int(check_number(samples, "--ttfb-probe-samples", PROBE_SAMPLES, "a whole number"))
    with emulated_network(settings):
        results = probe(urls, samples)
    for line in report_lines(results, samples):
        write(line)
    return 0 if any(not result.error for result in results) else 1


def _one(client: Any, url: str, recorder: Recorder) -> RequestTiming:
    before = len(recorder.requests)
    client.get(url)
    return recorder.requests[before]


def probe(urls: Sequence[str], samples: int) -> list[ProbeResult]:
    """Measure each URL ``samples`` times cold and ``samples`` times warm."""
    import httpx2

    previous = active_sink()
    recorder = Recorder("pytest-ttfb probe")
    set_active_sink(recorder)
    results = []
    try:
        for url in urls:
            result = ProbeResult(url)
            try:
                for _ in range(samples):
                    with instrument(httpx2.Client(http2=True)) as client:
                        result.cold.append(_one(client, url, recorder))
                with instrument(httpx2.Client(http2=True)) as client:
                    _one(client, url, recorder)  # opens the connection the rest reuse
                    result.warm = [_one(client, url, recorder) for _ in range(samples)]
            except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
                result.error = scrub(short_error(exc), url)
            results.append(result)
    finally:
        set_active_sink(previous)
    return results


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report_lines(results: Sequence[ProbeResult], samples: int) -> list[str]:
    columns = [
        ("dns", "dns_ms"),
        ("connect", "connect_ms"),
        ("tls", "tls_ms"),
        ("ttfb", "ttfb_ms"),
        ("total", "total_ms"),
    ]
    shown = {id(r): redact_url(r.url) for r in results}  # every URL printed, redacted
    width = max(len(url) for url in shown.values())
    lines = [
        f"pytest-ttfb probe: median of {samples} sample(s), ms from the start of each "
        "request (curl -w: time_namelookup, time_connect, time_appconnect, "
        "time_starttransfer, time_total)",
        f"{'url':<{width}}  {'':<4}" + "".join(f"{name:>9}" for name, _ in columns) + "  http",
    ]
    for result in results:
        if result.error:
            lines.append(f"{shown[id(result)]:<{width}}  error: {result.error}")
            continue
        for which in ("cold", "warm"):
            cells = "".join(f"{_cell(result.median(which, name)):>9}" for _, name in columns)
            versions = ",".join(sorted({r.http_version or "?" for r in getattr(result, which)}))
            label = shown[id(result)] if which == "cold" else ""
            lines.append(f"{label:<{width}}  {which:<4}{cells}  {versions}")
    reachable = [r for r in results if not r.error and r.median("warm", "ttfb_ms") is not None]
    if reachable:
        best = min(
            reachable, key=lambda r: (r.median("warm", "ttfb_ms"), r.median("cold", "ttfb_ms"))
        )
        url = shown[id(best)]
        lines.append(
            f"fastest: {url} (warm TTFB {_cell(best.median('warm', 'ttfb_ms'))} ms, "
            f"cold {_cell(best.median('cold', 'ttfb_ms'))} ms): pin it with "
            f"ANTHROPIC_BASE_URL={url} or --ttfb-base-url={url}"
        )
    for result in results:
        tcp = result.tcp_connect_ms
        if tcp is not None and tcp > CONNECT_HINT_MS:
            lines.append(
                f"warning: TCP connect to {shown[id(result)]} takes {tcp:.0f} ms (over "
                f"{CONNECT_HINT_MS:g} ms): that server is far from this machine"
            )
    return lines
