"""Bursts of threads sharing one sync HTTP/2 client: which failures are the server's?

    python benchmarks/bursts.py [--bursts 100] [--threads 20] [--per-thread 5]

Each burst starts ``--threads`` threads at once on one shared sync client (``http2=True``,
against the repo's LocalServer: hypercorn, TLS, HTTP/2 on loopback), each making
``--per-thread`` requests; a burst fails when any of its requests raised. One client per
row, kept for all its bursts, as a session-scoped fixture would be.

Rows: httpx 0.28 and httpx2; bare or instrumented by pytest-ttfb (recording into a
recorder, as during a test); against a server that caps requests per connection at
hypercorn's default (1,000) or one without a cap (the plugin's setting since issue 8).
Columns: failed bursts, requests that raised, the first error, and the connections the
server accepted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_ttfb.measure.active import set_active_sink
from pytest_ttfb.measure.recorder import Recorder
from pytest_ttfb.measure.stacks import instrument
from pytest_ttfb.modes.server import LocalServer

HYPERCORN_DEFAULT_CAP = 1000


def burst(client: Any, url: str, threads: int, per_thread: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for _ in range(per_thread):
            try:
                client.get(url).raise_for_status()
            except Exception as exc:  # counted, not raised: the burst goes on
                errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def row(module: Any, plugin: bool, cap: int | None, args: argparse.Namespace) -> str:
    with LocalServer(max_requests_per_connection=cap) as server:
        client = module.Client(http2=True, verify=server.ssl_context())
        if plugin:
            instrument(client)
            set_active_sink(Recorder("benchmarks/bursts.py"))
        failed = 0
        kinds: Counter[str] = Counter()
        try:
            for _ in range(args.bursts):
                errors = burst(client, server.url + "/ok", args.threads, args.per_thread)
                failed += bool(errors)
                kinds.update(f"{type(e).__name__}: {e}" for e in errors)
        finally:
            set_active_sink(None)
            client.close()
        first = kinds.most_common(1)[0][0][:40] if kinds else "-"
        return (
            f"{module.__name__:7} {'yes' if plugin else 'no':6} "
            f"{'1000' if cap else 'none':6} {failed:>4}/{args.bursts:<5} "
            f"{sum(kinds.values()):>8}  {len(server.connections):>5}  {first}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=100)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--per-thread", type=int, default=5)
    args = parser.parse_args()
    import httpx
    import httpx2

    per_burst = args.threads * args.per_thread
    print(
        f"{args.bursts} bursts of {args.threads} threads x {args.per_thread} requests "
        f"({per_burst} per burst) on one shared sync client, HTTP/2, LocalServer"
    )
    print("stack   plugin cap    failed     errors  conns  first error")
    for cap in (HYPERCORN_DEFAULT_CAP, None):
        for module in (httpx, httpx2):
            for plugin in (False, True):
                print(row(module, plugin, cap, args), flush=True)


if __name__ == "__main__":
    main()
