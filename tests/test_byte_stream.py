"""The byte stream wrapper over a real socket: it reads past the stack's own response
stream (httpx's generator layer), and keeps what that layer did: the stack's own
exceptions, an error recorded when the body breaks off, every byte handed over.

The server is a plain socket on loopback, in a thread of this process, that stops by
itself: it sends a response head and part of a chunked event stream, then resets the
connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import httpx
import httpx2
import pytest

from pytest_ttfb.measure.active import set_active_sink
from pytest_ttfb.measure.recorder import Recorder

from .test_failures import _read_request as read_request

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
EVENT = b'event: message_start\ndata: {"type":"message_start"}\n\n'
STACKS = {"httpx": httpx, "httpx2": httpx2}


@contextmanager
def _breaking_server() -> Iterator[str]:
    """A server that answers each connection's request with the head and one event,
    then a TCP reset (a peer gone mid-body)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # to look at ``stop`` now and then
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                if not read_request(conn):
                    continue
                conn.sendall(HEAD + b"%x\r\n%s\r\n" % (len(EVENT), EVENT))
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def _read(module: Any, url: str, in_async: bool, recorder: Recorder | None) -> tuple[type, bytes]:
    """Read the stream to its failure: the exception type raised, and the bytes seen."""
    seen = bytearray()

    def sync() -> None:
        with module.Client() as client:
            if recorder is not None:
                recorder.watch(client)
            with client.stream("GET", url) as response:
                for chunk in response.iter_raw():
                    seen.extend(chunk)

    async def in_loop() -> None:
        async with module.AsyncClient() as client:
            if recorder is not None:
                recorder.watch(client)
            async with client.stream("GET", url) as response:
                async for chunk in response.aiter_raw():
                    seen.extend(chunk)

    try:
        if in_async:
            asyncio.run(in_loop())
        else:
            sync()
    except Exception as exc:  # whichever the stack raises: compared by the caller
        return type(exc), bytes(seen)
    raise AssertionError("the body did not break off")


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_body_broken_off_raises_what_the_bare_client_raises(stack: str, in_async: bool) -> None:
    module = STACKS[stack]
    recorder = Recorder("byte-stream")
    set_active_sink(recorder)
    try:
        with _breaking_server() as url:
            bare = _read(module, url, in_async, None)
            watched = _read(module, url, in_async, recorder)
    finally:
        set_active_sink(None)
    # The stack's own exception (httpx.ReadError, say), not httpcore's: the mapping
    # httpx applies in the layer the wrapper reads past is applied all the same.
    assert watched == bare
    assert watched[0].__module__.split(".")[0] == stack
    assert watched[1] == EVENT
    (record,) = recorder.requests
    assert record.error is not None
    assert record.error.startswith(watched[0].__name__)
    assert record.total_ms is not None
    assert record.stream == "anthropic"


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_the_stacks_own_response_stream_is_read_past(stack: str, in_async: bool) -> None:
    """The chunks pass through one generator (the wrapper's), not two: httpx's response
    stream is never iterated for a watched client, only closed."""
    module = STACKS[stack]
    default = __import__(f"{stack}._transports.default", fromlist=["ResponseStream"])
    layer = default.AsyncResponseStream if in_async else default.ResponseStream
    method = "__aiter__" if in_async else "__iter__"
    recorder = Recorder("byte-stream")
    set_active_sink(recorder)
    try:
        with (
            _breaking_server() as url,
            mock.patch.object(layer, method, side_effect=AssertionError("iterated")),
        ):
            raised, seen = _read(module, url, in_async, recorder)
    finally:
        set_active_sink(None)
    assert raised is not AssertionError
    assert seen == EVENT
