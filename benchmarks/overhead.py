"""What instrumenting a client costs on a warm loopback request.

    python benchmarks/overhead.py [--blocks 40] [--requests 200]

One process serves minimal HTTP/1.1 keep-alive responses on loopback (so the client's
own work dominates and any overhead shows); this one times blocks of warm GET requests
through three clients of each stack, in blocks run in a shuffled order so drift and
noise hit all alike, and prints the median time per request and its ratio to the bare client:

- bare: the client as the user built it;
- watched: after ``ttfb.watch(client)``, recording into an active recorder;
- trace hook: the bare client with an empty httpcore ``trace`` callback, the way most
  instrumentation gets phases, shown for comparison (pytest-ttfb does not use it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def _serve() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def _trace_client(module: Any) -> Any:
    def ignore(name: str, info: dict[str, Any]) -> None:
        pass

    class TraceTransport(module.BaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def handle_request(self, request: Any) -> Any:
            request.extensions["trace"] = ignore
            return self.inner.handle_request(request)

    client = module.Client()
    client._transport = TraceTransport(client._transport)
    return client


def _pin(index: int) -> None:
    """Server and client on cores of their own, where there are two: less noise."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[index]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100, help="requests per block")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _pin(-1)
        asyncio.run(_serve())
        return
    _pin(0)

    import httpx
    import httpx2

    from pytest_ttfb import Recorder, watch
    from pytest_ttfb.measure.active import set_active_sink as set_active_recorder

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/"
        recorder = Recorder("benchmarks/overhead.py")
        set_active_recorder(recorder)
        clients = {}
        for name, module in (("httpx2", httpx2), ("httpx", httpx)):
            clients[(name, "bare")] = module.Client()
            clients[(name, "watched")] = watch(module.Client())
            clients[(name, "trace hook")] = _trace_client(module)
        for client in clients.values():  # open every connection before timing
            client.get(url)
        recorder.requests.clear()
        per_request: dict[tuple[str, str], list[float]] = {key: [] for key in clients}
        shuffle = random.Random(1)
        order = list(clients.items())
        for _ in range(args.blocks):
            shuffle.shuffle(order)  # no client always runs right after another
            for key, client in order:
                started = time.perf_counter()
                for _ in range(args.requests):
                    client.get(url)
                per_request[key].append((time.perf_counter() - started) / args.requests)
            # Proof the watched clients measured every request (two stacks), warm.
            assert len(recorder.requests) == 2 * args.requests
            assert all(r.reused and r.ttfb_ms is not None for r in recorder.requests)
            recorder.requests.clear()  # keep memory flat
    finally:
        server.kill()

    print(
        f"warm GET on loopback, HTTP/1.1; median of {args.blocks} blocks of "
        f"{args.requests} requests each, blocks in shuffled order"
    )
    print(f"{'stack':<8}{'client':<12}{'us/request':>12}{'ratio':>8}")
    for (stack, kind), samples in per_request.items():
        median = statistics.median(samples)
        bare = statistics.median(per_request[(stack, "bare")])
        print(f"{stack:<8}{kind:<12}{median * 1e6:>12.1f}{median / bare:>8.3f}")


if __name__ == "__main__":
    main()
