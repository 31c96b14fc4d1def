"""A content-encoded event stream (gzip, deflate, br) still gets its first token,
found on the decoded events, while the caller reads exactly the bytes it would
without the plugin.

The server is a plain socket on loopback in a thread of this process: HTTP/1.1,
chunked, one compressed event per chunk (flushed), a pause between events.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest

EVENTS = [
    b'event: message_start\ndata: {"type": "message_start"}\n\n',
    b'event: ping\ndata: {"type": "ping"}\n\n',
    b"event: content_block_delta\n"
    b'data: {"type": "content_block_delta", "index": 0, '
    b'"delta": {"type": "text_delta", "text": "Hi"}}\n\n',
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
]
PAUSE = 0.1  # between events, so each arrives in a read of its own


def _compressor(encoding: str) -> tuple[str, Callable[[bytes], bytes], Callable[[], bytes]]:
    """(content-encoding header, compress one event and flush it, finish)."""
    if encoding == "br":
        brotli = pytest.importorskip("brotli")
        c = brotli.Compressor()
        return "br", lambda data: c.process(data) + c.flush(), c.finish
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[encoding]
    z = zlib.compressobj(wbits=wbits)
    header = "deflate" if encoding.startswith("deflate") else encoding
    return header, lambda data: z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH), z.flush


class EncodedEventServer:
    """Answers every request with ``EVENTS``, content-encoded; records what it sent
    (the encoded body) so the caller's raw bytes can be compared."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        _compressor(encoding)  # skip now if the encoding is not available
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1/messages"
        self.sent: list[bytes] = []  # the encoded body of each response
        self._stop = threading.Event()
        self._deadline = time.monotonic() + 60
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._listener:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        header, compress, finish = _compressor(self.encoding)
        with conn, suppress(OSError):
            conn.settimeout(15)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                + f"content-encoding: {header}\r\n".encode()
                + b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )
            body = b""
            for index, event in enumerate(EVENTS):
                if index:
                    time.sleep(PAUSE)
                part = compress(event)
                body += part
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            tail = finish()
            body += tail
            if tail:
                conn.sendall(b"%x\r\n%s\r\n" % (len(tail), tail))
            conn.sendall(b"0\r\n\r\n")
            self.sent.append(body)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(params=["gzip", "deflate", "deflate-raw", "br"])
def encoded_server(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[EncodedEventServer]:
    server = EncodedEventServer(request.param)
    monkeypatch.setenv("TTFB_SSE_URL", server.url)
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"".join(EVENTS))
    monkeypatch.setenv("TTFB_SSE_PLAIN", str(plain))
    monkeypatch.setenv("TTFB_SSE_RAW", str(tmp_path / "raw.bin"))
    try:
        yield server
    finally:
        server.stop()


INNER = """
import os, time
import anyio, httpx, httpx2, pytest

STACK = {stack}
URL = os.environ["TTFB_SSE_URL"]
PLAIN = open(os.environ["TTFB_SSE_PLAIN"], "rb").read()

def check(ttfb, arrived):
    (decoded, raw) = ttfb.requests
    # The caller read the events as sent, decoded by the stack as without the plugin.
    assert b"".join(chunk for _, chunk in arrived) == PLAIN
    assert decoded.first_token_ms is not None and raw.first_token_ms is not None
    # Found when the chunk holding the delta came in: after the caller had the chunk
    # before it, no later than the caller had this one (one thread: program order).
    index = next(i for i, (_, chunk) in enumerate(arrived) if b"content_block_delta" in chunk)
    assert index >= 1
    found_at = decoded.started_at + decoded.first_token_ms / 1000
    assert arrived[index - 1][0] < found_at <= arrived[index][0]
    assert decoded.first_body_byte_ms < decoded.first_token_ms <= decoded.total_ms
"""

SYNC = """
def test_encoded_stream(ttfb):
    arrived = []
    with ttfb.watch(STACK.Client()) as client:
        with client.stream("GET", URL) as response:
            for chunk in response.iter_bytes():
                arrived.append((time.perf_counter(), chunk))
        with client.stream("GET", URL) as response:
            raw = b"".join(response.iter_raw())
    open(os.environ["TTFB_SSE_RAW"], "wb").write(raw)
    check(ttfb, arrived)
"""

ASYNC = """
@pytest.mark.anyio
async def test_encoded_stream(ttfb):
    arrived = []
    async with ttfb.watch(STACK.AsyncClient()) as client:
        async with client.stream("GET", URL) as response:
            async for chunk in response.aiter_bytes():
                arrived.append((time.perf_counter(), chunk))
        async with client.stream("GET", URL) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
    open(os.environ["TTFB_SSE_RAW"], "wb").write(raw)
    check(ttfb, arrived)
"""


@pytest.mark.parametrize(
    ("stack", "flavour"), [("httpx", "sync"), ("httpx2", "sync"), ("httpx2", "async")]
)
def test_first_token_of_an_encoded_event_stream(
    pytester: pytest.Pytester,
    encoded_server: EncodedEventServer,
    tmp_path: Path,
    stack: str,
    flavour: str,
) -> None:
    pytester.makepyfile(INNER.format(stack=stack) + (SYNC if flavour == "sync" else ASYNC))
    result = pytester.runpytest("--ttfb-mode=live")
    result.assert_outcomes(passed=1)
    # The raw bytes the caller read are the encoded bytes the server sent.
    assert (tmp_path / "raw.bin").read_bytes() == encoded_server.sent[1]


def test_an_encoding_the_scanner_cannot_decode_is_left_alone() -> None:
    """No decoder (an unknown coding): no first token, and nothing raised."""
    from pytest_ttfb.measure.scanner import DecodingScanner, decoder_for

    assert decoder_for("compress") is None
    assert decoder_for("identity") is None
    assert decoder_for("gzip, identity") is not None
    gzip = decoder_for("gzip")
    assert gzip is not None
    scanner = DecodingScanner("delta", gzip)
    assert scanner.feed(b"not gzip at all") is None  # a decoding error ends the watch
