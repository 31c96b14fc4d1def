"""The record built from a request's raw marks: every field from the right mark.

``InFlight.timing`` passes RequestTiming's fields by position (cheaper than keywords on
the per-request path), so a field added or moved in the dataclass must show up here.
And what the transport wrapper leaves of the response it hands back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

import pytest_ttfb
from pytest_ttfb.measure import inflight as inflight_module
from pytest_ttfb.measure.active import set_active_sink
from pytest_ttfb.measure.inflight import Connection, InFlight
from pytest_ttfb.measure.record import PoolSettings, RequestTiming
from pytest_ttfb.measure.recorder import Recorder
from pytest_ttfb.measure.scanner import FirstTokenScanner
from pytest_ttfb.measure.stacks import available_stacks

ANTHROPIC_START = b'event: message_start\ndata: {"type":"message_start"}\n\n'
DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
POOL = PoolSettings(http2=True, max_connections=4, keepalive_expiry=30.0, stack="httpx")


def _request(**headers: str) -> httpx.Request:
    return httpx.Request(
        "POST", "https://user:pw@api.test/v1/messages?key=sk-secret-value#frag", headers=headers
    )


def _marked(inflight: InFlight, start: float) -> None:
    # Distinct marks, each a whole number of ms after the start.
    inflight.connect_start = start + 0.001
    inflight.dns_end = start + 0.002
    inflight.connect_end = start + 0.003
    inflight.tls_end = start + 0.004
    inflight.sent = start + 0.005
    inflight.headers_at = start + 0.006
    inflight.first_body = start + 0.007
    inflight.first_token = start + 0.008
    inflight.end = start + 0.009
    inflight.status = 201
    inflight.version = b"HTTP/2"  # as the response's extensions give it


def _close(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) < 1e-6


def test_a_new_connections_record_has_every_mark_in_its_field() -> None:
    start = 1000.0
    inflight = InFlight(start, _request(**{"x-stainless-retry-count": "2"}), POOL, "teardown")
    _marked(inflight, start)
    inflight.connection = Connection("c7", inflight)  # this request opened it
    inflight.error = "ReadError: boom"
    record = inflight.timing()

    assert record.method == "POST"
    assert record.url == "https://api.test/v1/messages?key=***"
    assert record.status == 201
    assert record.http_version == "HTTP/2"
    assert record.reused is False
    assert record.connection_id == "c7"
    expected_ms = {
        "pool_wait_ms": 1.0,  # until the connect began
        "dns_ms": 2.0,
        "connect_ms": 3.0,
        "tls_ms": 4.0,
        "sent_ms": 5.0,
        "ttfb_ms": 6.0,
        "first_body_byte_ms": 7.0,
        "first_token_ms": 8.0,
        "total_ms": 9.0,
    }
    for name, ms in expected_ms.items():
        assert _close(getattr(record, name), ms), (name, getattr(record, name), ms)
    assert record.error == "ReadError: boom"
    assert record.attempt == 3
    assert record.started_at == start
    assert record.when == "teardown"
    assert record.pool is POOL
    assert record.late is False
    assert record.stream is None
    assert record.chunk_ms is None
    assert record.output_tokens is None
    assert record.first_token_by_rule is None
    assert record.buffered is False
    # Every field of the dataclass was looked at above (a new one must be added here).
    checked = {
        "method", "url", "status", "http_version", "reused", "connection_id", "error",
        "attempt", "started_at", "when", "pool", "started_unix", "late", "stream",
        "chunk_ms", "output_tokens", "first_token_by_rule", "buffered", *expected_ms,
    }  # fmt: skip
    assert {f.name for f in fields(RequestTiming)} == checked


def test_a_reused_connections_record_has_no_connect_phases() -> None:
    start = 50.0
    inflight = InFlight(start, _request(), None, "call")
    _marked(inflight, start)
    inflight.connection = Connection("c1", None)  # opened by an earlier request
    inflight.buffered = True
    record = inflight.timing()

    assert record.reused is True
    assert record.connection_id == "c1"
    assert record.dns_ms is None
    assert record.connect_ms is None
    assert record.tls_ms is None
    assert _close(record.pool_wait_ms, 5.0)  # until it was sent, on the pooled connection
    assert record.attempt is None  # no SDK retry header
    assert record.when == "call"
    assert record.pool is None
    assert record.buffered is True


@pytest.mark.parametrize("open_marks", ["end", "first_token", "first_body"])
def test_a_record_built_while_the_body_is_open_ends_as_one_built_whole(
    open_marks: str,
) -> None:
    """Built before the body is done (a test reading ``ttfb.requests`` mid-stream), the
    record gets the later marks as they are stamped, and ends field for field as the
    record of the same request built once it was done."""
    start = 10.0
    done = InFlight(start, _request(), POOL, "call")
    _marked(done, start)
    done.error = "ReadError: boom"
    whole = done.timing()

    open_ = InFlight(start, _request(), POOL, "call")
    _marked(open_, start)
    later = ["first_body", "first_token", "end"]
    later = later[later.index(open_marks) :]  # these come after the build
    for name in later:
        setattr(open_, name, None)
    early = open_.timing()
    assert early.total_ms is None
    for name in later:  # stamped as the stack does, each followed by a refresh
        if name == "end":
            open_.error = "ReadError: boom"
            open_.end = start + 0.009
        else:
            setattr(open_, name, start + (0.007 if name == "first_body" else 0.008))
        open_.refresh()
    for field in fields(RequestTiming):
        if field.name != "started_unix":  # the wall clock, read at each build
            assert getattr(early, field.name) == getattr(whole, field.name), field.name


def test_a_streams_record_built_when_done_copies_its_chunks_exactly() -> None:
    """A finished stream of events is completed by ``refresh``: its chunk times are an
    exact-size copy, and the scanner is let go."""
    start = 0.0
    inflight = InFlight(start, _request(), None, "call")
    _marked(inflight, start)
    scanner = FirstTokenScanner("auto", start)
    scanner.feed(ANTHROPIC_START + DELTA * 3)
    inflight.scanner = scanner
    record = inflight.timing()
    assert record.stream == "anthropic"
    assert record.chunk_ms is not None
    assert len(record.chunk_ms) == 3
    assert record.chunk_ms is not scanner.chunks
    assert inflight.scanner is None
    assert _close(record.total_ms, 9.0)


def test_a_repeated_header_reads_as_one_value_joined() -> None:
    # The retry count as Headers.get gives it: repeated values joined by ", " (then no int).
    request = httpx.Request(
        "GET", "https://api.test/", headers=[("x-stainless-retry-count", "1")] * 2
    )
    record = InFlight(0.0, request, None, "call").timing()
    assert record.attempt is None
    request = httpx.Request("GET", "https://api.test/", headers={"X-Stainless-Retry-Count": "0"})
    assert InFlight(0.0, request, None, "call").timing().attempt == 1


class _PlainRequest:
    """A request from some other transport: plain headers and URL, no httpx internals."""

    method = b"GET"

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers


def test_a_request_without_httpxs_internals_is_read_the_usual_way() -> None:
    request = _PlainRequest("https://api.test/v1?api_key=sk-secret-value", {})
    record = InFlight(0.0, request, None, "call").timing()
    assert record.method == "GET"
    assert record.url == "https://api.test/v1?api_key=***"
    assert record.attempt is None
    retried = _PlainRequest("https://api.test/v1", {"x-stainless-retry-count": "1"})
    assert InFlight(0.0, retried, None, "call").timing().attempt == 2


def test_urls_remembered_by_their_parts_stay_apart_and_redacted() -> None:
    # The URL text is remembered per parsed URL: two URLs that differ only in a secret
    # query value each get their own text, and neither shows the secret.
    first = httpx.Request("GET", "https://api.test/v1?key=sk-first-secret&page=1")
    second = httpx.Request("GET", "https://api.test/v1?key=sk-second-secret&page=2")
    texts = [InFlight(0.0, request, None, "call").timing().url for request in (first, second)]
    again = InFlight(0.0, first, None, "call").timing().url
    assert texts == ["https://api.test/v1?key=***&page=1", "https://api.test/v1?key=***&page=2"]
    assert again == texts[0]


# Run in an interpreter of its own: whether CPython gives a new response a real dict
# also depends on every response made before in the process (the class's shared keys),
# so in the test process a bare response may already have one, and nothing is detected.
_REFERENTS = """
import gc, sys
import {module} as module
from pytest_ttfb.measure import inflight as inflight_module
from pytest_ttfb.measure.active import set_active_sink
from pytest_ttfb.measure.recorder import Recorder

def referents(watched):
    transport = module.MockTransport(
        lambda request: module.Response(200, stream=module.ByteStream(b"body"))
    )
    recorder = Recorder("hot-path")
    set_active_sink(recorder)
    with module.Client(transport=transport) as client:
        if watched:
            recorder.watch(client)
        with client.stream("GET", "https://api.test/") as response:
            assert response.read() == b"body"
            return len(gc.get_referents(response))

print(referents(True), referents(False))
"""


def _referents(module: Any) -> tuple[int, int]:
    """How many objects a streamed response refers to, read through a client watched
    and not: its attribute values, or one dict once CPython has had to make it one."""
    source = _REFERENTS.format(module=module.__name__)
    # The checkout (or installed copy) this process imports, whatever the working folder.
    root = str(Path(pytest_ttfb.__file__).resolve().parent.parent)
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    watched, bare = map(int, done.stdout.split())
    return watched, bare


@pytest.mark.skipif(
    sys.version_info >= (3, 13),
    reason="from Python 3.13 a dict read from __dict__ shares the object's inline values: "
    "reading it costs nothing later, and leaves nothing to detect",
)
@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_the_wrapper_leaves_the_response_without_a_dict_of_its_own(module: Any) -> None:
    """Reading ``response.__dict__`` makes CPython give the object a real dict, after
    which every attribute read or stored on it (once a body chunk, in ``iter_raw``) is a
    dict lookup (Python 3.11 and 3.12): a tenth of the plugin's cost a chunk, once. The
    watched response keeps its attributes as the bare one does (the same values
    referred to, not one dict)."""
    watched, bare = _referents(module)
    assert watched == bare > 2


# What a request in flight may hold until its record is built: marks, text, numbers,
# and the plugin's own shared objects (the pool's settings, the connection). Not the
# request's or response's objects, which the bare client frees when it is done.
_SMALL = (type(None), bool, int, float, str, bytes, PoolSettings, Connection)


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_request_in_flight_holds_none_of_the_stacks_objects(
    module: Any, http2: bool, local_server: Any
) -> None:
    """Objects that outlive a request bring the garbage collector's passes sooner, and
    a full pass walks the whole heap: what the bare client leaves behind is what a
    watched one may. Until ``ttfb.requests`` is read, each request in flight holds
    values only (its URL as redacted text, its retry attempt, its HTTP version)."""
    recorder = Recorder("in-flight")
    set_active_sink(recorder)
    try:
        client = module.Client(verify=local_server.ssl_context(), http2=http2)
        with recorder.watch(client):
            for _ in range(2):  # a new connection, then a pooled one
                assert client.get(local_server.url + "/ok?key=sk-secret-value").status_code == 200
        assert len(recorder.pending) == 2
        for flight in recorder.pending:
            held = {name: getattr(flight, name) for name in type(flight).__slots__}
            assert held["url"] == local_server.url + "/ok?key=***"
            assert held["version"] == (b"HTTP/2" if http2 else b"HTTP/1.1")
            assert held["extensions"] is None
            assert held["response_headers"] is None
            assert all(type(value) in _SMALL for value in held.values()), held
        first, pooled = (flight.timing() for flight in recorder.pending)
        assert (first.reused, pooled.reused) == (False, True)
        assert first.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    finally:
        set_active_sink(None)


def test_a_stream_left_unscanned_drops_its_figures_from_a_record_built_before() -> None:
    """A record read while the body was open shows the chunks so far; once the scanner
    gives up on the body, the record drops its stream figures for good (none rather than
    half), and keeps the first token it had."""
    start = 0.0
    inflight = InFlight(start, _request(), None, "call")
    _marked(inflight, start)
    inflight.end = None  # still open
    scanner = FirstTokenScanner("auto", start)
    scanner.feed(ANTHROPIC_START + DELTA * 2)
    inflight.scanner = scanner
    record = inflight.timing()
    assert record.chunk_ms is not None
    assert len(record.chunk_ms) == 2
    inflight.unscanned()
    inflight.finish()
    assert (record.stream, record.chunk_ms, record.output_tokens) == (None, None, None)
    assert record.first_token_by_rule is None
    assert _close(record.first_token_ms, 8.0)
    assert record.total_ms is not None


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_request_done_holds_no_response_headers(module: Any, local_server: Any) -> None:
    """Whatever the body (none, for HEAD; a stream of events; one closed unread), the
    response's headers are let go when it is closed, not kept until the build."""
    recorder = Recorder("in-flight")
    set_active_sink(recorder)
    try:
        with recorder.watch(module.Client(verify=local_server.ssl_context())) as client:
            client.head(local_server.url + "/ok")
            body = {"stream": True, "model": "m", "max_tokens": 5, "messages": []}
            with client.stream("POST", local_server.url + "/v1/messages", json=body) as r:
                r.read()
            with client.stream("GET", local_server.url + "/ok"):
                pass
        held = [flight.response_headers for flight in recorder.pending]
        assert held == [None] * 3
        assert recorder.requests[1].stream == "anthropic"
    finally:
        set_active_sink(None)


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_response_without_extensions_is_no_error_of_ours(module: Any) -> None:
    (stack,) = [bound for bound in available_stacks() if bound.httpx is module]

    class Inner:
        def handle_request(self, request: Any) -> Any:
            response = module.Response(200, content=b"ok")
            response.extensions = None  # as some transport of the user's might
            return response

    recorder = Recorder("in-flight")
    set_active_sink(recorder)
    try:
        transport = stack.sync_transport(Inner())
        assert (
            transport.handle_request(module.Request("GET", "https://api.test/")).status_code == 200
        )
        (record,) = recorder.requests
    finally:
        set_active_sink(None)
    assert record.http_version is None
    assert record.error is None


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_reading_the_url_and_headers_is_not_timed_as_the_request(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's start is stamped after its URL text (redacted, remembered per URL:
    some microseconds for a URL not seen before) and retry count are read: a slow
    redaction (50 ms, here) shows in no mark of the request."""
    real = inflight_module.redact_url

    def slow(url: str) -> str:
        time.sleep(0.05)
        return real(url)

    monkeypatch.setattr(inflight_module, "redact_url", slow)
    transport = module.MockTransport(lambda request: module.Response(200, content=b"ok"))
    recorder = Recorder("in-flight")
    set_active_sink(recorder)
    try:
        with recorder.watch(module.Client(transport=transport)) as client:
            started = time.perf_counter()
            client.get(f"https://api.test/{module.__name__}/{time.time_ns()}?key=sk-value")
            elapsed_ms = (time.perf_counter() - started) * 1000.0
        (record,) = recorder.requests
    finally:
        set_active_sink(None)
    assert record.url.endswith("?key=***")
    assert elapsed_ms >= 50.0  # the redaction ran inside the call
    assert record.ttfb_ms is not None
    assert record.ttfb_ms < elapsed_ms - 49.0  # but outside the request's own time


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_connection_opened_before_the_client_was_watched_counts_as_reused(
    module: Any, http2: bool, local_server: Any
) -> None:
    """No watched stream wrote the request: the response's extensions (kept for the
    build in that case only) say it went out on a pooled connection."""
    recorder = Recorder("in-flight")
    client = module.Client(verify=local_server.ssl_context(), http2=http2)
    try:
        assert client.get(local_server.url + "/ok").status_code == 200  # not watched yet
        set_active_sink(recorder)
        recorder.watch(client)
        assert client.get(local_server.url + "/ok?token=abcdef").status_code == 200
        (record,) = recorder.requests
    finally:
        set_active_sink(None)
        client.close()
    assert (record.reused, record.connection_id) == (True, None)
    assert record.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert record.url == local_server.url + "/ok?token=***"


class _GivingUpScanner(FirstTokenScanner):
    """A scanner whose ``by_rule`` runs the body's thread giving up on it: what
    ``refresh`` in another thread meets when it has taken the scanner just before."""

    __slots__ = ("inflight",)

    def by_rule(self) -> dict[str, float]:
        self.inflight.unscanned()
        return {"delta": 1.0}


def test_a_refresh_that_took_the_scanner_before_it_gave_up_drops_the_figures_too() -> None:
    start = 0.0
    inflight = InFlight(start, _request(), None, "call")
    _marked(inflight, start)
    inflight.end = None  # still open
    scanner = _GivingUpScanner("auto", start)
    scanner.inflight = inflight
    scanner.feed(ANTHROPIC_START + DELTA * 2)
    inflight.scanner = scanner
    record = inflight.timing()  # its refresh gets the scanner, which gives up inside
    assert inflight.scanner is None
    assert (record.stream, record.chunk_ms, record.output_tokens) == (None, None, None)
    assert record.first_token_by_rule is None
