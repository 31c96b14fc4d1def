"""Row 8's explanation: an h2 frame log of a cold burst of 20 concurrent GETs on one
HTTP/2 connection, first directly against the local TLS server (no relay, RTT 0), then
through the emulated network (relay, RTT given, default 50 ms).

    python benchmarks/h2_frames.py [RTT_MS]

Both sides use the h2 library in this process, so patching ``H2Connection`` logs the
client's frames (httpcore2) and the server's (hypercorn) alike. Times are ms from the
burst's start; a run of one kind of frame on streams 3-39 is collapsed into one line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import h2.connection
import httpx2

from pytest_ttfb import TtfbRouter, watch
from pytest_ttfb.measure.network import use_network
from pytest_ttfb.modes.emulate import Emulator
from pytest_ttfb.modes.server import LocalServer

LOG: list[tuple[float, str]] = []
START = [0.0]
_Conn: Any = h2.connection.H2Connection
_receive = _Conn._receive_frame
_send_headers = _Conn.send_headers
_initiate = _Conn.initiate_connection


def _side(connection: Any) -> str:
    return "client" if connection.config.client_side else "server"


def _logged_receive(self: Any, frame: Any) -> Any:
    stream = f" stream {frame.stream_id}" if frame.stream_id else ""
    LOG.append((time.perf_counter(), f"{_side(self)} received {type(frame).__name__}{stream}"))
    return _receive(self, frame)


def _logged_send_headers(self: Any, stream_id: int, *args: Any, **kwargs: Any) -> Any:
    LOG.append((time.perf_counter(), f"{_side(self)} sends HeadersFrame stream {stream_id}"))
    return _send_headers(self, stream_id, *args, **kwargs)


def _logged_initiate(self: Any) -> Any:
    LOG.append((time.perf_counter(), f"{_side(self)} sends its preface: SettingsFrame"))
    return _initiate(self)


_Conn._receive_frame = _logged_receive
_Conn.send_headers = _logged_send_headers
_Conn.initiate_connection = _logged_initiate


def dump(title: str) -> None:
    print(f"\n{title}\n")
    rows: list[list[Any]] = []  # [first, last, kind, collapsible, count, stream, text]
    for at, what in LOG:
        if at < START[0] or "WindowUpdate" in what or "Ping" in what:
            continue
        kind, _, stream = what.partition(" stream ")
        collapsible = bool(stream) and stream != "1"
        if collapsible and rows and rows[-1][2] == kind and rows[-1][3]:
            rows[-1][1], rows[-1][4], rows[-1][5] = at, rows[-1][4] + 1, stream
            continue
        rows.append([at, at, kind, collapsible, 1, stream, what])
    for first, last, kind, _, count, stream, what in rows:
        ms = 1000 * (first - START[0])
        if count > 1:
            until = 1000 * (last - START[0])
            print(f"{ms:8.2f}  {kind}, {count} streams (until {until:.2f}, last {stream})")
        else:
            print(f"{ms:8.2f}  {what}")
    LOG.clear()


async def burst(client: Any, url: str) -> None:
    START[0] = time.perf_counter()
    await asyncio.gather(*(client.get(url) for _ in range(20)))
    LOG.append((time.perf_counter(), "burst done"))


def direct() -> None:
    with LocalServer() as server:

        async def main() -> None:
            for warm_up in (True, False):  # first: imports and the first handshake
                async with httpx2.AsyncClient(http2=True, verify=server.ssl_context()) as client:
                    if warm_up:
                        await client.get(server.url + "/ok")
                    else:
                        await burst(client, server.url + "/ok")

        asyncio.run(main())
    dump("without the relay: the local TLS + HTTP/2 server on loopback (RTT 0)")


def relayed(rtt: float) -> None:
    emulator = Emulator(rtt)
    emulator.start()
    use_network(emulator)
    router = TtfbRouter()
    router.get("https://bench.test/item").respond(200, json={})
    emulator.route_to(router)
    try:

        async def main() -> None:
            for warm_up in (True, False):
                async with watch(httpx2.AsyncClient(http2=True)) as client:
                    if warm_up:
                        await client.get("https://bench.test/item")
                    else:
                        await burst(client, "https://bench.test/item")

        asyncio.run(main())
    finally:
        use_network(None)
        emulator.stop()
    dump(f"through the emulated network (relay, RTT {rtt:g} ms)")


if __name__ == "__main__":
    direct()
    relayed(float(sys.argv[1]) if len(sys.argv) > 1 else 50.0)
