"""The blog post's experiment, on pytest-ttfb's emulated network.

    python benchmarks/seed_table.py [--rtt 100] [--server 120] [--idle 6]

Five ways to call the Messages API with the async Anthropic SDK, side by side in one run,
against the emulated network (TLS 1.3 + HTTP/2 server on loopback, a relay adding the
round-trip time, the TCP handshake charged at connect):

  (a) a new SDK client per call
  (b) one SDK client with its defaults, shared (HTTP/1.1, keep-alive expiry 5 s)
  (c) the recipe's pooled client on HTTP/1.1 (20/20 connections, keep-alive 60 s)
  (d) the recipe on HTTP/2
  (e) the recipe on HTTP/2, base URL pinned to a near region (--near-rtt)

Columns, all from pytest-ttfb's own records (TTFB = first response byte):
  cold        the first call
  warm        the next call, right after
  after idle  a call after --idle seconds without traffic (longer than the SDK's 5 s
              keep-alive expiry, shorter than the recipe's 60 s)
  20 at once  wall time of 20 concurrent calls (asyncio.gather), made after the calls above
  conns       new connections those 20 calls opened

The async SDK, because that is how agents make concurrent calls, and because the sync
httpx2 client shared by 20 threads over HTTP/2 loses its connection now and then
against this server ("Server disconnected"; httpx 0.28 in threads and httpx2 async do
not), which would measure that fault instead of the network.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

NEAR = "near-1"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hello"}],
}


def _recipe_client(http2: bool) -> Any:
    import httpx2

    return httpx2.AsyncClient(
        http2=http2,
        limits=httpx2.Limits(max_connections=20, max_keepalive_connections=20, keepalive_expiry=60),
        timeout=httpx2.Timeout(connect=5, read=120, write=10, pool=10),
    )


def _configurations() -> dict[str, Callable[[], Any]]:
    import anthropic

    from pytest_ttfb import watch

    def sdk(**options: Any) -> Any:
        return watch(anthropic.AsyncAnthropic(api_key="placeholder", max_retries=0, **options))

    return {
        "(a) new SDK client per call": sdk,
        "(b) SDK default client, shared": sdk,
        "(c) recipe, HTTP/1.1": lambda: sdk(http_client=_recipe_client(http2=False)),
        "(d) recipe, HTTP/2": lambda: sdk(http_client=_recipe_client(http2=True)),
        "(e) recipe, HTTP/2, near region": lambda: sdk(
            http_client=_recipe_client(http2=True), base_url=f"https://{NEAR}.anthropic.test"
        ),
    }


async def _measure(
    name: str, make: Callable[[], Any], idle: float, recorder: Any
) -> dict[str, Any]:
    per_call = name.startswith("(a)")
    shared = make()

    def client() -> Any:
        return make() if per_call else shared

    async def ttfb_of_one_call() -> float:
        recorder.requests.clear()
        await client().messages.create(**ASK)
        (request,) = recorder.requests
        return float(request.ttfb_ms)

    row: dict[str, Any] = {"cold": await ttfb_of_one_call(), "warm": await ttfb_of_one_call()}
    await asyncio.sleep(idle)
    row["after idle"] = await ttfb_of_one_call()
    recorder.requests.clear()
    started = time.perf_counter()
    await asyncio.gather(*(client().messages.create(**ASK) for _ in range(20)))
    row["20 at once"] = (time.perf_counter() - started) * 1000.0
    row["conns"] = recorder.new_connections
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, default=100.0, help="round-trip time, ms")
    parser.add_argument(
        "--server", type=float, default=120.0, help="server time before the first byte, ms"
    )
    parser.add_argument("--idle", type=float, default=6.0, help="idle gap, seconds")
    parser.add_argument(
        "--near-rtt", type=float, default=20.0, help="round-trip time of the near region of (e), ms"
    )
    args = parser.parse_args()

    from pytest_ttfb import Recorder, TtfbRouter
    from pytest_ttfb.measure.active import set_active_sink as set_active_recorder
    from pytest_ttfb.measure.network import use_network
    from pytest_ttfb.modes.emulate import Emulator, Region

    emulator = Emulator(args.rtt, regions=[Region(NEAR, args.near_rtt)])
    emulator.start()
    use_network(emulator)
    router = TtfbRouter()
    router.messages(latency=args.server)
    emulator.route_to(router)
    recorder = Recorder("benchmarks/seed_table.py")
    set_active_recorder(recorder)
    try:
        rows = {
            name: asyncio.run(_measure(name, make, args.idle, recorder))
            for name, make in _configurations().items()
        }
    finally:
        use_network(None)
        emulator.stop()

    print(
        f"emulated network: RTT {args.rtt:g} ms (near region {args.near_rtt:g} ms), "
        f"server time {args.server:g} ms, idle gap {args.idle:g} s; times in ms"
    )
    columns = ["cold", "warm", "after idle", "20 at once", "conns"]
    print(f"{'client':<34}" + "".join(f"{c:>12}" for c in columns))
    for name, row in rows.items():
        cells = "".join(f"{row[c]:>12.0f}" for c in columns)
        print(f"{name:<34}{cells}")


if __name__ == "__main__":
    main()
