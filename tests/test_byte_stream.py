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
import tracemalloc
import zlib
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


# -- chunks the scanner cannot take as they come: the caller gets what bare gives --------

DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
# A usage report nested deeper than the json module can read (a RecursionError there).
DEEP = (
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":3},"x":'
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}\n\n"
)


def _chunks_read(
    module: Any,
    parts: list[Any],
    in_async: bool,
    recorder: Recorder | None,
    headers: dict[str, str] | None = None,
) -> list[Any]:
    """The raw chunks a client hands over for a mocked body made of ``parts``."""

    class Body(module.SyncByteStream, module.AsyncByteStream):  # type: ignore[misc]
        def __iter__(self) -> Iterator[Any]:
            yield from parts

        async def __aiter__(self) -> Any:
            for part in parts:
                yield part

    def answer(request: Any) -> Any:
        return module.Response(200, headers=headers, stream=Body())

    async def answer_async(request: Any) -> Any:
        return answer(request)

    if in_async:

        async def in_loop() -> list[Any]:
            client = module.AsyncClient(transport=module.MockTransport(answer_async))
            if recorder is not None:
                recorder.watch(client)
            async with client, client.stream("GET", "https://api.test/") as response:
                return [chunk async for chunk in response.aiter_raw()]

        return asyncio.run(in_loop())
    client = module.Client(transport=module.MockTransport(answer))
    if recorder is not None:
        recorder.watch(client)
    with client, client.stream("GET", "https://api.test/") as response:
        return list(response.iter_raw())


def _typed(chunk: Any) -> tuple[type, Any]:
    return type(chunk), chunk if isinstance(chunk, str) else bytes(chunk)


def _watched_and_bare(
    stack: str, parts: list[Any], in_async: bool, headers: dict[str, str] | None = None
) -> tuple[list[Any], Any]:
    """The chunks a watched client hands over (checked against the bare client's), and
    the request's record."""
    module = STACKS[stack]
    recorder = Recorder("byte-stream")
    set_active_sink(recorder)
    try:
        watched = _chunks_read(module, parts, in_async, recorder, headers)
        bare = _chunks_read(module, parts, in_async, None, headers)
    finally:
        set_active_sink(None)
    assert list(map(_typed, watched)) == list(map(_typed, bare))
    (record,) = recorder.requests
    assert record.error is None
    return watched, record


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_memoryview_chunks_are_scanned_as_bytes(stack: str, in_async: bool) -> None:
    parts = [memoryview(part) for part in (EVENT, DELTA, DELTA, DELTA)]
    _, record = _watched_and_bare(stack, parts, in_async)
    assert record.stream == "anthropic"
    assert record.chunk_ms is not None
    assert len(record.chunk_ms) == 3
    assert record.first_token_ms is not None


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_usage_report_too_deep_for_json_is_no_usage(stack: str, in_async: bool) -> None:
    # Once as a read of its own after the first token (``after``), once as the first read.
    for parts, deltas in (([EVENT, DELTA, DELTA, DEEP], 2), ([DEEP, EVENT, DELTA], 1)):
        _, record = _watched_and_bare(stack, parts, in_async)
        assert record.stream == "anthropic"
        assert record.output_tokens is None
        assert record.chunk_ms is not None
        assert len(record.chunk_ms) == deltas


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_chunk_the_scanner_cannot_read_leaves_the_stream_unscanned(
    stack: str, in_async: bool
) -> None:
    """A body stream that hands over a str (no bytes at all) gets it to the caller as
    the bare client does; the record keeps its first token and drops the stream figures
    it could not finish, rather than showing half of them."""
    watched, record = _watched_and_bare(stack, [EVENT, DELTA, DELTA.decode(), DELTA], in_async)
    assert type(watched[2]) is str
    assert record.first_token_ms is not None
    assert record.total_ms is not None
    assert (record.stream, record.chunk_ms, record.output_tokens) == (None, None, None)
    assert record.first_token_by_rule is None


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_first_chunk_the_scanner_cannot_read_is_still_the_first_body_byte(
    stack: str, in_async: bool
) -> None:
    # And the chunks after it are not scanned either (no scanner started anew on them).
    parts = [EVENT.decode(), EVENT, DELTA]
    _, record = _watched_and_bare(stack, parts, in_async)
    assert record.first_body_byte_ms is not None
    assert record.total_ms is not None
    assert record.first_body_byte_ms <= record.total_ms
    assert (record.stream, record.chunk_ms, record.first_token_ms) == (None, None, None)


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_chunk_that_is_no_buffer_is_not_made_into_bytes(stack: str, in_async: bool) -> None:
    """An int from a broken body stream: the stack raises its own error on it, watched
    or not, and the scanner does not first make that many NUL bytes of it
    (``bytes(50_000_000)`` is 50 MB)."""
    module = STACKS[stack]
    parts = [EVENT, DELTA, 50_000_000]
    raised = []
    recorder = Recorder("byte-stream")
    set_active_sink(recorder)
    tracemalloc.start()
    try:
        for watcher in (recorder, None):
            with pytest.raises(TypeError) as info:
                _chunks_read(module, parts, in_async, watcher)
            raised.append(str(info.value))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        set_active_sink(None)
    assert raised[0] == raised[1]
    assert peak < 10_000_000
    (record,) = recorder.requests
    assert record.first_token_ms is not None  # from the delta, before the int
    assert record.stream is None


@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_an_encoded_stream_that_turns_corrupt_keeps_no_half_figures(
    stack: str, in_async: bool
) -> None:
    """A gzip stream that decodes for two deltas, then is garbage: the decoding scanner
    stops, and the record shows no stream figures rather than the two it counted."""
    compressor = zlib.compressobj(wbits=31)  # gzip
    good = compressor.compress(EVENT + DELTA + DELTA) + compressor.flush(zlib.Z_SYNC_FLUSH)
    parts = [good, b"\x00garbage that is no deflate block" * 4]
    _, record = _watched_and_bare(stack, parts, in_async, {"content-encoding": "gzip"})
    assert record.first_token_ms is not None  # found in the good part
    assert (record.stream, record.chunk_ms, record.output_tokens) == (None, None, None)
    # The same good part alone, closed cleanly, is counted.
    whole = good + compressor.flush()
    _, counted = _watched_and_bare(stack, [whole], in_async, {"content-encoding": "gzip"})
    assert counted.stream == "anthropic"
    assert counted.chunk_ms is not None
    assert len(counted.chunk_ms) == 2
