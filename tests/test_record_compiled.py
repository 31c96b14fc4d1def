"""A request's bookkeeping in C (``measure/_record.c``), against the Python it stands for.

- ``build(flight, clock_offset)`` is ``flight.timing(clock_offset)``: it builds the
  usual request's record itself (done, no stream of events, a watched connection, a
  usual method and version) by writing the record's slots where they lie, and hands
  any other flight to ``timing``. Both build from the same raw marks, drawn at random,
  and every field must come out the same, to the bit for floats.
- ``new_flight(request, pool, when)`` is ``InFlight(None, request, pool, when)``, on
  generated httpx, httpx2 and foreign requests.
- ``write_stamper(current, write, connection)`` is the network stream class's own
  ``write``, on InFlight, foreign and missing requests, and writes that fail.
- ``first_chunk(flight, chunk)`` is ``InFlight.first_chunk``, on generated first bytes
  and httpx, httpx2 and foreign headers, encoded or not.

Skipped where the module is not built (no C compiler; ``.ci/run`` checks it is built).
"""

from __future__ import annotations

import gc
import math
import struct
import sys
import weakref
from dataclasses import dataclass, fields
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ttfb.measure import inflight as inflight_module
from pytest_ttfb.measure.inflight import Connection, InFlight
from pytest_ttfb.measure.record import PoolSettings, RequestTiming
from pytest_ttfb.measure.scanner import FirstTokenScanner

try:
    from pytest_ttfb.measure import _record
except ImportError:  # built without a C compiler: the twin alone runs
    _record = None  # type: ignore[assignment]

built = pytest.mark.skipif(_record is None, reason="pytest_ttfb.measure._record not built")
pytestmark = built
BINDING = inflight_module._BINDING
if _record is not None:  # as inflight binds it (not done under PYTEST_TTFB_NO_EXTENSIONS)
    _record.bind(*BINDING)

POOL = PoolSettings(http2=False, max_connections=10, keepalive_expiry=5.0, stack="httpx2")
REQUEST = httpx.Request("GET", "http://127.0.0.1:9/")
MARKS = (
    "connect_start",
    "dns_end",
    "connect_end",
    "tls_end",
    "sent",
    "headers_at",
    "first_body",
    "first_token",
    "end",
)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e308])
# Marks are floats or None; an int or a str (no transport stamps one) takes the reference's
# own arithmetic, or its TypeError.
marks = st.none() | floats | st.sampled_from([1, "x"])
methods = st.sampled_from(["GET", "POST", "DELETE", "get", "PROPFIND", b"GET", "GET\x00"])
versions = st.sampled_from(
    [None, b"HTTP/1.1", b"HTTP/2", b"HTTP/1.0", b"HTTP/3", "HTTP/1.1", b"SPDY/3", 2, b""]
)
anything = st.sampled_from([None, 0, 1, 200, "x", True, False, 2.5, ("t",)])


@st.composite
def flights(draw: Any) -> dict[str, Any]:
    """The raw marks of a request, most of them usual, some not."""
    state: dict[str, Any] = {name: draw(marks) for name in MARKS}
    state["start"] = draw(floats | st.sampled_from([None, 3, "s"]))
    if draw(st.booleans()):  # mostly done: the path the compiled build takes
        state["end"] = draw(floats)
    state["method"] = draw(methods)
    state["version"] = draw(versions)
    state["connection"] = draw(st.sampled_from(["opened", "pooled", None, "other"]))
    state["scanner"] = draw(st.sampled_from([None, None, None, "scanner"]))
    state["record"] = draw(st.sampled_from([None, None, None, "built"]))
    for name in ("status", "error", "attempt", "when", "buffered", "url"):
        state[name] = draw(anything)
    state["pool"] = draw(st.sampled_from([None, POOL]))
    state["extensions"] = draw(st.sampled_from([None, {}, {"network_stream": None}]))
    return state


def _flight(state: dict[str, Any]) -> InFlight:
    flight = InFlight(0.0, REQUEST, None, "call")
    for name, value in state.items():
        if name == "connection":
            value = {
                "opened": Connection("c7", flight),
                "pooled": Connection("c3", None),
                "other": "not a connection",
                None: None,
            }[value]
        elif name == "scanner" and value is not None:
            value = FirstTokenScanner("delta", 0.0)
        elif name == "record" and value is not None:
            value = RequestTiming("GET", "built before")
        setattr(flight, name, value)
    return flight


def _same(a: Any, b: Any) -> bool:
    if type(a) is float and type(b) is float:
        return struct.pack("<d", a) == struct.pack("<d", b)  # NaN, -0.0: to the bit
    if isinstance(a, RequestTiming) and isinstance(b, RequestTiming):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    return type(a) is type(b) and a == b


def _outcome(build: Any, flight: InFlight, offset: float) -> Any:
    try:
        return build(flight, offset)
    except Exception as exc:  # the reference's own errors must come out the same
        return type(exc)


@settings(max_examples=3000, deadline=None)
@given(state=flights(), offset=floats)
def test_the_compiled_build_gives_the_records_timing_gives(
    state: dict[str, Any], offset: float
) -> None:
    compiled, reference = _flight(state), _flight(state)
    ours = _outcome(_record.build, compiled, offset)
    theirs = _outcome(inflight_module._build_record, reference, offset)
    if isinstance(theirs, type):
        assert ours is theirs
        return
    assert isinstance(ours, RequestTiming)
    for field in fields(RequestTiming):
        assert _same(getattr(ours, field.name), getattr(theirs, field.name)), field.name
    # The flight is left as timing leaves it: its record kept, its extensions let go
    # when the record is new.
    assert compiled.record is ours
    assert reference.record is theirs
    assert compiled.extensions == reference.extensions
    assert compiled.scanner is None or compiled.scanner.chunks == reference.scanner.chunks


def _usual(start: float = 100.0) -> InFlight:
    flight = InFlight(start, REQUEST, POOL, "call")
    flight.sent, flight.headers_at, flight.first_body, flight.end = (
        start + 0.001,
        start + 0.002,
        start + 0.003,
        start + 0.004,
    )
    flight.status, flight.version = 200, b"HTTP/1.1"
    flight.connection = Connection("c1", None)
    return flight


def test_the_usual_request_is_built_here_not_by_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The compiled path does build it (else this file would test timing against itself).
    calls: list[InFlight] = []
    original = InFlight.timing

    def spy(self: InFlight, clock_offset: float | None = None) -> RequestTiming:
        calls.append(self)
        return original(self, clock_offset)

    monkeypatch.setattr(InFlight, "timing", spy)
    usual, streamed = _usual(), _usual()
    streamed.scanner = FirstTokenScanner("delta", streamed.start)
    record = _record.build(usual, 5.0)
    assert record.total_ms == pytest.approx(4.0)
    assert record.http_version == "HTTP/1.1"
    assert record.started_unix == 105.0
    assert record.reused is True
    assert calls == []
    _record.build(streamed, 5.0)
    assert calls == [streamed]


def test_the_usual_strings_are_shared_not_copied() -> None:
    flight = _usual()
    flight.method = "".join(["G", "ET"])  # a new string each time, as httpx makes it
    record = _record.build(flight, 0.0)
    assert record.method is inflight_module._METHODS["GET"]
    assert record.http_version is inflight_module._VERSIONS[b"HTTP/1.1"]


def test_a_record_built_keeps_no_reference_and_lets_go_of_what_it_held() -> None:
    flight = _usual()
    _record.build(flight, 0.0)  # warm: interned strings, free lists
    flight.record = None
    before = sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None

    def held() -> list[int]:
        return [sys.getrefcount(x) for x in (flight.url, flight.when, POOL, flight.start)]

    counts = held()
    for _ in range(2000):
        flight.record = None
        flight.extensions = {"network_stream": None}
        record = _record.build(flight, 1.0)
    assert held() == [c + 1 for c in counts]  # one record left holding each
    del record
    flight.record = None
    assert held() == counts
    if before is not None:  # a debug build counts every reference
        assert sys.gettotalrefcount() - before < 50


def test_the_old_record_and_extensions_are_let_go_when_they_are_replaced() -> None:
    class Marker(dict[str, Any]):
        pass

    flight = _usual()
    extensions = Marker()
    flight.extensions = extensions
    alive = weakref.ref(extensions)
    del extensions
    _record.build(flight, 0.0)
    gc.collect()
    assert alive() is None
    assert flight.extensions is None


@dataclass(slots=True)
class _Two:
    a: Any
    b: Any


class _Derived(InFlight):
    """InFlight's slots, inherited: not a class of slots alone."""

    __slots__ = ()


class _Slots25:
    """25 slots, none of them InFlight's; ``attempt`` a property."""

    __slots__ = tuple(f"s{i}" for i in range(25))
    attempt = property(lambda self: None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((InFlight, Connection, _Two, *BINDING[3:]), "_Two is not a class of 27 slots"),
        ((_Two, Connection, RequestTiming, *BINDING[3:]), "_Two is not a class of 25 slots"),
        ((_Derived, *BINDING[1:]), "_Derived is not a class of 25 slots"),
        ((_Slots25, *BINDING[1:]), "_Slots25.attempt is not a plain slot"),
        ((InFlight, _Two, RequestTiming, *BINDING[3:]), "has no attribute 'id'"),
        ((*BINDING[:3], [], *BINDING[4:]), "bind(InFlight"),
        ((*BINDING[:8], None), "bind(InFlight"),
        ((InFlight, Connection), "bind(InFlight"),
    ],
)
def test_bind_refuses_classes_it_cannot_write_where_they_lie(
    args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises((TypeError, AttributeError), match=message.replace("(", r"\(")):
        _record.bind(*args)
    # A refusal leaves the classes bound before in place.
    assert _record.build(_usual(), 0.0).total_ms == pytest.approx(4.0)


def test_build_with_anything_but_a_flight_and_a_float_asks_timing() -> None:
    class Pending:
        def timing(self, clock_offset: float | None = None) -> str:
            return f"timing({clock_offset!r})"

    assert _record.build(Pending(), 2.0) == "timing(2.0)"
    flight = _usual()
    record = _record.build(flight, 1)  # an int offset: the reference's arithmetic
    assert record.started_unix == 101.0
    assert type(record.started_unix) is float
    with pytest.raises(TypeError, match=r"build\(flight, clock_offset\)"):
        _record.build(flight)  # type: ignore[call-arg]


def test_infinite_and_nan_marks_come_out_as_pythons_arithmetic_gives() -> None:
    flight = _usual()
    flight.end = math.inf
    flight.headers_at = math.nan
    record = _record.build(flight, 0.0)
    assert record.total_ms == math.inf
    assert math.isnan(record.ttfb_ms or 0.0)


# The in-flight object, made in C (``new_flight``) and by InFlight(None, ...).

RETRY = "x-stainless-retry-count"
retry_values = st.sampled_from(
    [
        "0",
        "2",
        "007",
        "123456789",
        "1234567890",
        " 1",
        "+2",
        "1_0",
        "\u0661",
        "x",
        "",
        "-1",
        "/",
        "1:",
    ]
)


class _Url:
    """A URL that is not httpx's (no parsed form), or whose parsed form cannot be read."""

    def __init__(self, text: str, broken: bool = False) -> None:
        self.text, self.broken = text, broken

    def __getattr__(self, name: str) -> Any:
        if self.broken and name == "_uri_reference":
            raise RuntimeError("no parsed form")
        raise AttributeError(name)

    def __str__(self) -> str:
        return self.text


class _Headers:
    """Headers of no shape httpx's have: ``_list`` of another kind, or a mapping."""

    def __init__(self, triples: Any, mapping: dict[str, str]) -> None:
        self._list, self.mapping = triples, mapping

    def __contains__(self, name: str) -> bool:
        return name in self.mapping

    def get(self, name: str) -> str | None:
        return self.mapping.get(name)


class _Request:
    def __init__(self, method: Any, url: Any, headers: Any) -> None:
        self.method, self.url, self.headers = method, url, headers


@st.composite
def requests(draw: Any) -> Any:
    module = draw(st.sampled_from(["httpx", "httpx2", "other"]))
    url = draw(
        st.sampled_from(
            [
                "https://api.test/v1/messages",
                "https://user:secret@api.test/v1?key=sk-ant-123&x=1",
                "http://127.0.0.1:8/",
            ]
        )
    )
    headers = [(RETRY, v) for v in draw(st.lists(retry_values, max_size=2))]
    headers += [("x-api-key", "sk-1"), ("accept", "*/*")][: draw(st.integers(0, 2))]
    if module != "other":
        stack = httpx if module == "httpx" else pytest.importorskip("httpx2")
        raw = [(k, v.encode()) for k, v in headers]  # (a str value must be ASCII)
        return stack.Request(draw(st.sampled_from(["GET", "post"])), url, headers=raw)
    triples = [(k.encode(), k.encode(), v.encode()) for k, v in headers]
    shape = draw(st.sampled_from(["list", "tuple", "lists", "str keys", "none"]))
    if shape == "tuple":
        triples = tuple(triples)  # type: ignore[assignment]
    elif shape == "lists":
        triples = [list(t) for t in triples]  # type: ignore[misc]
    elif shape == "str keys":
        triples = [(k, k.decode(), v) for k, k2, v in triples]  # type: ignore[misc]
    elif shape == "none":
        triples = None  # type: ignore[assignment]
    return _Request(
        draw(st.sampled_from(["GET", b"GET"])),
        _Url(url, broken=draw(st.booleans())),
        _Headers(triples, dict(headers)),
    )


def _made(make: Any) -> Any:
    try:
        return make()
    except Exception as exc:
        return type(exc)


@settings(max_examples=1500, deadline=None)
@given(request=requests(), pool=st.sampled_from([None, POOL]), when=st.sampled_from(["call"]))
def test_new_flight_makes_the_flight_inflight_makes(request: Any, pool: Any, when: str) -> None:
    before = inflight_module.perf_counter()
    ours = _made(lambda: _record.new_flight(request, pool, when))
    after = inflight_module.perf_counter()
    theirs = _made(lambda: InFlight(None, request, pool, when))
    if isinstance(theirs, type):
        assert ours is theirs
        return
    assert type(ours) is InFlight
    for name in InFlight.__slots__:
        if name != "start":
            assert _same(getattr(ours, name), getattr(theirs, name)), name
    assert before <= ours.start <= after


def test_new_flight_reads_the_clock_after_the_url_and_headers() -> None:
    seen: list[str] = []

    class Watched(_Request):
        def __getattribute__(self, name: str) -> Any:
            seen.append(name)
            return object.__getattribute__(self, name)

    def clock() -> float:
        seen.append("clock")
        return 1.5

    _record.bind(*BINDING[:8], clock)
    try:
        flight = _record.new_flight(Watched("GET", _Url("http://a.test/"), {}), None, "call")
    finally:
        _record.bind(*BINDING)
    assert seen == ["method", "url", "headers", "clock"]
    assert flight.start == 1.5


def test_new_flight_lets_go_of_what_it_read_and_keeps_what_the_flight_holds() -> None:
    request = httpx.Request("GET", "https://api.test/", headers={RETRY: "1"})
    _record.new_flight(request, POOL, "call")  # warm: the URL's text remembered
    held = (request.url, request.headers, request.headers._list, POOL)
    counts = [sys.getrefcount(x) for x in held]
    flights = [_record.new_flight(request, POOL, "call") for _ in range(1000)]
    assert [sys.getrefcount(x) for x in held] == [
        c + (x is POOL) * 1000 for c, x in zip(counts, held, strict=False)
    ]
    assert {f.attempt for f in flights} == {2}
    del flights
    assert [sys.getrefcount(x) for x in held] == counts


def test_new_flight_before_bind_or_with_too_few_arguments_is_refused() -> None:
    with pytest.raises(TypeError, match=r"new_flight\(request, pool, when\)"):
        _record.new_flight(REQUEST, None)  # type: ignore[call-arg]


# A network stream's write, stamped in C (``write_stamper``) and by the stream class's
# own ``write`` method, the reference.


class _Inner:
    """A connection's stream underneath: notes each write, returns a token, or raises."""

    def __init__(self, fails: bool = False) -> None:
        self.writes: list[tuple[Any, ...]] = []
        self.fails = fails
        self.token = object()

    def write(self, buffer: bytes, timeout: float | None = None) -> Any:
        self.writes.append((buffer, timeout))
        if self.fails:
            raise OSError("connection reset")
        return self.token

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return None


class _Foreign:
    """Not an InFlight: the attributes the reference reads and writes, and no more."""

    def __init__(self, sent: Any = None, connection: Any = None) -> None:
        self.sent, self.connection = sent, connection


def _writes(compiled: bool, request: Any, calls: list[tuple[Any, ...]], fails: bool) -> Any:
    from pytest_ttfb.measure._sync import TimingNetworkStream

    inner = _Inner(fails)
    connection = Connection("c9", None)
    stream = TimingNetworkStream(inner, connection)
    # The stream's own write is the compiled one wherever inflight uses the module (not
    # under PYTEST_TTFB_NO_EXTENSIONS); here each is made explicitly.
    compiled_in_use = inflight_module.write_stamper is not None
    assert (type(stream.write).__name__ == "builtin_function_or_method") is compiled_in_use
    if compiled:
        write = _record.write_stamper(inflight_module.current, inner.write, connection)
    else:
        write = TimingNetworkStream.write.__get__(stream)
    token = inflight_module.current.set(request)
    results: list[Any] = []
    try:
        for args, kwargs in calls:
            before = inflight_module.perf_counter()
            try:
                returned = write(*args, **kwargs)
                results.append("token" if returned is inner.token else returned)
            except Exception as exc:
                results.append(type(exc))
            after = inflight_module.perf_counter()
            sent = getattr(request, "sent", None)
            if isinstance(sent, float) and sent >= before:
                assert sent <= after  # stamped during this write
    finally:
        inflight_module.current.reset(token)
    return results, inner.writes, connection


@pytest.mark.parametrize("fails", [False, True], ids=["written", "write fails"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: None,
        lambda: _usual(),
        lambda: InFlight(0.0, REQUEST, None, "call"),  # nothing sent yet, no connection
        lambda: _Foreign(),
        lambda: _Foreign(sent=1.0),
        lambda: _Foreign(connection="mine"),
        lambda: object(),  # no ``sent``: AttributeError, before the write
    ],
    ids=["none", "sent", "unsent", "foreign", "foreign sent", "foreign connected", "other"],
)
def test_the_compiled_write_stamps_and_writes_as_the_method_does(make: Any, fails: bool) -> None:
    calls = [((b"GET / HTTP/1.1\r\n\r\n",), {"timeout": 5.0}), ((b"",), {}), ((b"x", None), {})]
    compiled_request, reference_request = make(), make()
    ours, our_writes, our_connection = _writes(True, compiled_request, calls, fails)
    theirs, their_writes, their_connection = _writes(False, reference_request, calls, fails)
    assert ours == theirs
    assert our_writes == their_writes  # the same buffers and timeouts, or no write at all
    initial = make()
    for request, connection in (
        (compiled_request, our_connection),
        (reference_request, their_connection),
    ):
        if not isinstance(request, (InFlight, _Foreign)):
            continue
        # Stamped sent at the first write (during it: ``_writes``), or left as it was.
        if initial.sent is None:
            assert type(request.sent) is float
        else:
            assert request.sent == initial.sent
        # The connection named only where the request had none.
        if initial.sent is None and initial.connection is None:
            assert request.connection is connection
        elif initial.connection is not None:
            assert request.connection == initial.connection


def test_the_compiled_write_keeps_nothing_per_call() -> None:
    inner = _Inner()
    write = _record.write_stamper(inflight_module.current, inner.write, Connection("c1", None))
    flight = _usual()
    token = inflight_module.current.set(flight)
    try:
        buffer = b"data"
        write(buffer, timeout=1.0)
        inner.writes.clear()
        counts = [sys.getrefcount(x) for x in (flight, buffer, inner.token)]
        for _ in range(5000):
            write(buffer, timeout=1.0)
        inner.writes.clear()
        assert [sys.getrefcount(x) for x in (flight, buffer, inner.token)] == counts
    finally:
        inflight_module.current.reset(token)


def test_write_stamper_refuses_what_is_not_a_context_variable() -> None:
    with pytest.raises(TypeError, match=r"write_stamper\(current, write, connection\)"):
        _record.write_stamper(None, print, None)


# A body's first chunk, looked at in C (``first_chunk``) and by ``InFlight.first_chunk``,
# the reference.


class _ListOf:
    """Headers whose ``_list`` is anything (a property that may raise)."""

    def __init__(self, triples: Any) -> None:
        self._triples = triples

    @property
    def _list(self) -> Any:
        if isinstance(self._triples, BaseException):
            raise self._triples
        return self._triples

    def __contains__(self, name: object) -> bool:
        return False

    def get(self, name: str, default: Any = None) -> Any:
        return default


def _headers(kind: str, encoding: str | None) -> Any:
    pairs = [("content-type", "application/json"), ("content-length", "2")]
    if encoding is not None:
        pairs.append(("Content-Encoding", encoding))
    if kind == "httpx":
        return httpx.Headers(pairs)
    if kind == "httpx2":
        import httpx2

        return httpx2.Headers(pairs)
    if kind == "none":
        return None
    if kind == "dict":  # no ``_list``: asked the usual way
        return dict(pairs)
    lower = [(k.encode(), k.lower().encode(), v.encode()) for k, v in pairs]
    return _ListOf(
        {
            "lists": [list(triple) for triple in lower],
            "str names": [(k, k.decode(), v) for k, _, v in lower],
            "pairs": [triple[:2] for triple in lower],
            "tuple": tuple(lower),
            "raises": AttributeError("_list"),
            "fails": RuntimeError("headers broken"),
        }[kind]
    )


HEADER_KINDS = ["httpx", "httpx2", "none", "dict", "lists", "str names", "pairs", "tuple"]
HEADER_KINDS += ["raises", "fails"]
# The bytes a body may start with: a byte-order mark's, line ends, event fields' initials,
# JSON's, and others.
first_bytes = st.sampled_from([b"\xef", b"\xbb", b"\xbf", b"\r", b"\n", b"e", b"d", b"i"])
first_bytes |= st.sampled_from([b"r", b":", b"{", b"[", b"\x00", b"\x1f", b"E", b" "])
first_bytes |= st.binary(min_size=1, max_size=1)
chunks = st.lists(first_bytes, max_size=4).map(b"".join) | st.sampled_from(
    [
        b"{}",
        b'{"type":"message"}',
        b"event: message_start\ndata: {}\n\n",
        b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n',
        b"\xef\xbb\xbf{}",
        b"\r\n\r\n",
        b"",
        b"\x1f\x8b\x08\x00",
    ]
)


def _first_chunk(compiled: bool, chunk: Any, kind: str, encoding: str | None, record: bool) -> Any:
    flight = _usual()
    flight.first_body = flight.end = None
    flight.response_headers = _headers(kind, encoding)
    if record:
        flight.timing(0.5)
    before = inflight_module.perf_counter()
    try:
        if compiled:
            result: Any = _record.first_chunk(flight, chunk)
        else:
            result = InFlight.first_chunk(flight, chunk)
    except Exception as exc:
        result = exc
    after = inflight_module.perf_counter()
    # Stamped first, during the call, whatever came next.
    assert type(flight.first_body) is float
    assert before <= flight.first_body <= after
    if record:  # refreshed: the record has the first body byte
        assert flight.record is not None
        assert flight.record.first_body_byte_ms == (flight.first_body - flight.start) * 1000.0
    scanner = flight.scanner
    return (
        repr(result) if isinstance(result, Exception) else type(result),
        result is scanner if scanner is not None else None,
        type(scanner),
        None if scanner is None else (scanner.found, bytes(scanner.head)),
        flight.response_headers is None,
        flight.unread,
    )


@settings(max_examples=2000, deadline=None)
@given(
    chunk=chunks,
    kind=st.sampled_from(HEADER_KINDS),
    encoding=st.sampled_from([None, "gzip", "identity", "br", "x-unknown"]),
    record=st.booleans(),
)
def test_the_compiled_first_chunk_looks_at_a_body_as_the_method_does(
    chunk: bytes, kind: str, encoding: str | None, record: bool
) -> None:
    ours = _first_chunk(True, chunk, kind, encoding, record)
    theirs = _first_chunk(False, chunk, kind, encoding, record)
    assert ours == theirs


class _Bytes(bytes):
    pass


def test_the_usual_json_body_is_looked_at_here_without_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def spy(name: str) -> Any:
        method = getattr(InFlight, name)

        def spied(self: InFlight, *args: Any) -> Any:
            asked.append(name)
            return method(self, *args)

        return spied

    for name in ("first_chunk", "_events", "_decoding", "refresh"):
        monkeypatch.setattr(InFlight, name, spy(name))
    flight = _usual()
    flight.response_headers = _headers("httpx2", None)
    assert _record.first_chunk(flight, b'{"id":1}') is None
    assert asked == []  # none of the Python ran
    assert flight.response_headers is None  # let go, as _decoding does
    flight = _usual()
    flight.response_headers = _headers("httpx", "gzip")  # encoded: _decoding's to read
    _record.first_chunk(flight, b"\x1f\x8b")
    flight = _usual()
    _record.first_chunk(flight, b"event: ping\n\n")  # maybe events: _events'
    assert asked == ["_decoding", "_events"]
    flight = _usual()
    flight.timing(0.5)
    asked.clear()
    _record.first_chunk(flight, b"{}")  # a record to refresh: its own method
    _record.first_chunk(flight, _Bytes(b"{}"))  # not exactly bytes: first_chunk's own
    assert asked == ["refresh", "first_chunk", "refresh", "_decoding"]


def test_the_compiled_first_chunk_keeps_nothing_per_call() -> None:
    chunk = b'{"id":1}'
    headers = _headers("httpx", None)
    flight = _usual()
    counts = [sys.getrefcount(x) for x in (flight, chunk, headers, headers._list)]
    for _ in range(5000):
        flight.response_headers = headers
        assert _record.first_chunk(flight, chunk) is None
    assert [sys.getrefcount(x) for x in (flight, chunk, headers, headers._list)] == counts


def test_first_chunk_refuses_too_few_arguments() -> None:
    with pytest.raises(TypeError, match=r"first_chunk\(flight, chunk\)"):
        _record.first_chunk(_usual())  # type: ignore[call-arg]
