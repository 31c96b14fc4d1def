"""Records read while other threads are still finishing their requests.

``ttfb.requests`` builds a request's record as soon as its headers are in, while the
body may still be read and closed in another thread. No mark stamped meanwhile may
be lost: every record must end up with the end of its body.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from types import ModuleType

import httpx
import httpx2
import pytest

from pytest_ttfb.measure.active import active_sink, set_active_sink
from pytest_ttfb.measure.recorder import Recorder
from pytest_ttfb.measure.stacks import instrument

WORKERS = 4
REQUESTS = 1500  # per worker; the old check-then-set race lost a few in this many


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """An active recorder, with thread switches as often as the interpreter allows
    (so a race window of a few bytecodes is hit often)."""
    recorder = Recorder("tests/test_races.py")
    previous_sink, previous_interval = active_sink(), sys.getswitchinterval()
    set_active_sink(recorder)
    sys.setswitchinterval(1e-6)
    try:
        yield recorder
    finally:
        sys.setswitchinterval(previous_interval)
        set_active_sink(previous_sink)


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_reading_requests_while_bodies_close_loses_no_end(
    recorder: Recorder, module: ModuleType
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        # an iterator: streamed through the wrappers, not read up front
        return module.Response(200, content=iter([b"data: {}\n\n"]))

    client = instrument(module.Client(transport=module.MockTransport(answer)))
    done = threading.Event()
    read: list[int] = []

    def reader() -> None:  # the test body reading ttfb.requests, over and over
        while not done.is_set():
            read.append(len(recorder.requests))

    def worker() -> None:
        for _ in range(REQUESTS):
            with client.stream("GET", "http://race.test/") as response:
                response.read()

    workers = [threading.Thread(target=worker) for _ in range(WORKERS)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    done.set()
    watcher.join()

    records = recorder.requests
    assert len(records) == WORKERS * REQUESTS
    assert max(read) > 0  # the reader did build records while bodies were being read
    # The old code lost both: the end to a check-then-set race with the record build
    # (a few per run, about one run in two at this size), the first body byte
    # whenever the record was built before the body began (a hundred or more per run).
    no_end = sum(r.total_ms is None for r in records)
    no_first_byte = sum(r.first_body_byte_ms is None for r in records)
    assert (no_end, no_first_byte) == (0, 0), f"of {len(records)} records"
    assert all(r.total_ms >= r.ttfb_ms for r in records)  # type: ignore[operator]
