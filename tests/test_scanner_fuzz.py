"""The first-token scanner and the byte stream wrapper under arbitrary input.

Arbitrary bytes (and bytes that look like server-sent events, which arbitrary bytes
rarely do), cut into arbitrary chunks: the scanner never raises, the wrapper hands
the caller every byte unchanged, and feeding chunk by chunk finds the first token
in the same place as feeding the whole body at once.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from unittest import mock

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_ttfb.measure import _async as async_module
from pytest_ttfb.measure import _sync as sync_module
from pytest_ttfb.measure import scanner as scanner_module
from pytest_ttfb.measure._async import AsyncTimingByteStream
from pytest_ttfb.measure._sync import TimingByteStream
from pytest_ttfb.measure.inflight import InFlight
from pytest_ttfb.measure.scanner import (
    DELTA_LINE,
    EVENT_END,
    FIRST_TOKEN_RULES,
    FirstTokenScanner,
    first_token_rule,
)

compiled_is_delta_event: Callable[[object], bool] | None
try:
    from pytest_ttfb.measure._delta import is_delta_event as compiled_is_delta_event
except ImportError:  # a checkout not built (no C compiler): the twin alone is tested
    compiled_is_delta_event = None

# The byte stream's per-chunk check, each way it may run: compiled, and its Python twin.
CHECKS: dict[str, Callable[[object], bool]] = {"python": scanner_module._is_delta_event}
if compiled_is_delta_event is not None:
    CHECKS["compiled"] = compiled_is_delta_event

LINES = [
    b"event: content_block_delta\n",
    b"event: message_start\n",
    b'data: {"type": "message_delta", "usage": {"output_tokens": 7}}\n',
    b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]}\n',
    b'data: {"choices": [], "usage": {"completion_tokens": 3}}\n',
    b'data: {"type": "response.completed", "response": {"usage": {"output_tokens": 5}}}\n',
    b'data: {"type": "response.function_call_arguments.delta"}\n',
    b"event: ping\n",
    b"event: response.output_text.delta\n",
    b'data: {"type": "content_block_delta", "delta": {"type": "text_delta"}}\n',
    b'data: {"delta": {"type": "thinking_delta"}}\n',
    b'data: {"choices": [{"delta": {"content": "x"}}]}\n',
    b"data: {}\n",
    b"data:\r\n",
    b": comment\n",
    b"id: 1\r",
    b"retry: 10\n",
    b"{",
]
# Events: a few lines (or stray bytes), then what may end them: a blank line in any
# of the three line endings, or nothing (the next line continues the event).
line = st.one_of(*[st.sampled_from(LINES)] * 4, st.binary(max_size=6))
event = st.tuples(
    st.lists(line, min_size=1, max_size=3), st.sampled_from([b"\n", b"\r\n", b"\r", b""])
).map(lambda parts: b"".join(parts[0]) + parts[1])
event_like = st.tuples(
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\n", b"\r\n"]), st.lists(event, max_size=8)
).map(lambda parts: parts[0] + b"".join(parts[1]))
bodies = st.one_of(st.binary(max_size=300), event_like, event_like, event_like)
rules = st.sampled_from(sorted(FIRST_TOKEN_RULES))
FUZZ = settings(deadline=None, max_examples=300)


def _cut(body: bytes, cuts: list[int]) -> list[bytes]:
    """``body`` split at the given offsets (empty chunks included, as a stack may)."""
    points = sorted(min(c, len(body)) for c in cuts)
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


chunked = st.tuples(bodies, st.lists(st.integers(0, 300), max_size=12)).map(
    lambda pair: (pair[0], _cut(*pair))
)


def _feed_at_once(rule: str, data: bytes) -> bool | None:
    return FirstTokenScanner(rule).feed(data)


@FUZZ
@given(chunked, rules)
def test_chunked_feeding_finds_the_token_where_the_whole_body_does(
    case: tuple[bytes, list[bytes]], rule: str
) -> None:
    body, chunks = case
    scanner = FirstTokenScanner(rule)
    outcome: bool | None = False
    fed = 0
    for chunk in chunks:
        before = fed
        fed += len(chunk)
        outcome = scanner.feed(chunk)  # must not raise
        if outcome is not False:
            break
    whole = _feed_at_once(rule, body)
    assert outcome == whole
    if outcome:
        # The same event: the token is complete within the chunk that reported it,
        # not before it, by the whole-body parse too.
        assert _feed_at_once(rule, body[:fed]) is True
        assert _feed_at_once(rule, body[:before]) is not True


def _request() -> InFlight:
    return InFlight(0.0, httpx.Request("GET", "https://fuzz.test/"), None, "call")


class _Body:
    """A response body as the stack hands it over: chunks, then close."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self.chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


@FUZZ
@given(chunked, st.sampled_from([None, "gzip", "deflate", "br", "gzip, deflate"]))
def test_the_wrapper_hands_over_every_byte_unchanged(
    case: tuple[bytes, list[bytes]], encoding: str | None
) -> None:
    _body, chunks = case
    request = _request()
    if encoding is not None:  # arbitrary bytes claimed to be encoded: decode errors
        request.response_headers = httpx.Headers({"content-encoding": encoding})
    inner = _Body(chunks)
    stream = TimingByteStream(inner, request)
    assert list(stream) == chunks
    stream.close()
    assert inner.closed
    assert request.end is not None
    assert request.error is None
    if encoding is None:  # the wrapper found the token where the scanner does
        scanner, found = FirstTokenScanner(first_token_rule.name), False
        for chunk in chunks:
            found = scanner.feed(chunk)
            if found is not False:
                break
        assert (request.first_token is not None) == bool(found)


@FUZZ
@given(chunked)
def test_the_async_wrapper_hands_over_every_byte_unchanged(
    case: tuple[bytes, list[bytes]],
) -> None:
    _body, chunks = case

    async def read() -> list[bytes]:
        stream = AsyncTimingByteStream(_Body(chunks), _request())
        got = [chunk async for chunk in stream]
        await stream.aclose()
        return got

    assert asyncio.run(read()) == chunks


@FUZZ
@given(event_like, st.lists(st.integers(0, 400), max_size=12), st.sampled_from([31, 15, -15]))
def test_an_encoded_stream_finds_the_token_of_the_decoded_one(
    body: bytes, cuts: list[int], wbits: int
) -> None:
    """gzip, zlib-deflate or raw deflate: the first token is found (or not) as in the
    same events sent plain, and the caller still gets the encoded bytes unchanged."""
    compressor = zlib.compressobj(wbits=wbits)
    encoded = compressor.compress(body) + compressor.flush()
    chunks = _cut(encoded, cuts)
    request = _request()
    request.response_headers = httpx.Headers(
        {"content-encoding": "gzip" if wbits == 31 else "deflate"}
    )
    stream = TimingByteStream(_Body(chunks), request)
    assert list(stream) == chunks
    plain = FirstTokenScanner(first_token_rule.name).feed(body)
    assert (request.first_token is not None) == bool(plain)


def _scan(scanner: FirstTokenScanner, chunks: list[bytes]) -> bool:
    """Feed every chunk (the scanner keeps watching after the first token); False when
    the body turned out not to be events."""
    return all(scanner.feed(chunk) is not None for chunk in chunks)


@FUZZ
@given(chunked, rules)
def test_chunked_and_whole_scans_find_the_same_chunk_events(
    case: tuple[bytes, list[bytes]], rule: str
) -> None:
    """However the body is cut, the scanner finds the same content chunks (their
    count: times differ), shape, usage and first-token rules as on the whole body."""
    body, chunks = case
    cut, whole = FirstTokenScanner(rule), FirstTokenScanner(rule)
    events = _scan(cut, chunks)
    assert events == _scan(whole, [body])
    if not events:
        return
    assert len(cut.chunks) == len(whole.chunks)
    assert cut.shape == whole.shape
    assert cut.output_tokens == whole.output_tokens
    assert sorted(cut.by_rule()) == sorted(whole.by_rule())
    assert cut.found == whole.found
    assert list(cut.chunks) == sorted(cut.chunks)  # in order of arrival


# -- the fast path after the first token (``FirstTokenScanner.after``) --------------------

# Anthropic events as the API sends them (and the odd ones it may), in one line ending.
ANTHROPIC_EVENTS = [
    b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
    b'{"input_tokens":5,"output_tokens":1}}}',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hi"}}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"thinking_delta","thinking":"hmm"}}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"signature_delta","signature":"x"}}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    b'"delta":{"type":"input_json_delta","partial_json":"{\\"a\\": 1"}}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"output_tokens content_block_delta"}}',
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":42}}',
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}',
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":"x"}}',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
    b'event: ping\ndata: {"type": "ping"}',
    b"event: message_stop\ndata: {}",
    b": keep-alive",
    b"",
]


@st.composite
def anthropic_chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """An Anthropic-like stream (one line ending for the whole stream, mostly LF; a
    stray event of any kind now and then) cut as a socket delivers it: mostly at event
    ends (one or several whole events a read), sometimes inside an event too."""
    newline = draw(st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"]))
    one = st.tuples(
        st.sampled_from(ANTHROPIC_EVENTS),
        st.sampled_from([2, 2, 2, 3]),  # a blank line ends an event; a third starts the next
    ).map(lambda parts: parts[0].replace(b"\n", newline) + newline * parts[1])
    events = draw(st.lists(st.one_of(*[one] * 12, event), min_size=1, max_size=40))
    body = b"".join(events)
    ends = list(itertools.accumulate(len(e) for e in events))
    keep = draw(st.lists(st.booleans(), min_size=len(ends), max_size=len(ends)))
    inside = draw(st.lists(st.integers(0, len(body)), max_size=draw(st.sampled_from([0, 0, 3]))))
    cuts = [end for end, kept in zip(ends, keep, strict=True) if kept] + inside
    return body, _cut(body, cuts)


class _Clock:
    """A ``perf_counter`` stand-in: the read being fed (in thousands of seconds) plus
    the calls so far, so two scanners agree on every chunk time exactly when they
    stamp at the same reads, the same number of times."""

    def __init__(self) -> None:
        self.read = 0
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.read * 1000.0 + self.calls

    def reads(self, chunks: list[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.read += 1
            yield chunk


class _ClockedBody(_Body):
    """A body whose clock moves on as each chunk comes."""

    def __init__(self, chunks: list[bytes], clock: _Clock) -> None:
        super().__init__(chunks)
        self.clock = clock

    def __iter__(self) -> Iterator[bytes]:
        return self.clock.reads(self.chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.clock.reads(self.chunks):
            yield chunk


def _state(scanner: FirstTokenScanner) -> tuple[object, ...]:
    return (
        list(scanner.chunks),
        scanner.shape,
        scanner.output_tokens,
        scanner.first_data_ms,
        scanner.visible_ms,
        scanner.found,
        scanner.token_at,
        scanner.by_rule(),
        scanner.head,  # what is held of the event being received
    )


def _scan_with(rule: str, chunks: list[bytes], fast: bool) -> tuple[object, ...] | None:
    """Feed every chunk through ``feed``, or (``fast``) through ``after`` once the
    first token is found, as the byte stream wrapper does; time from a fake clock."""
    clock = _Clock()
    with mock.patch.object(scanner_module, "perf_counter", clock):
        scanner = FirstTokenScanner(rule)
        for chunk in clock.reads(chunks):
            if fast and scanner.found:
                scanner.after(chunk)
            elif scanner.feed(chunk) is None:
                return None
        return _state(scanner)


def _events(*indexes: int, newline: bytes = b"\n", blank: int = 2) -> list[bytes]:
    """Reads of one whole Anthropic event each (ANTHROPIC_EVENTS by index)."""
    return [ANTHROPIC_EVENTS[i].replace(b"\n", newline) + newline * blank for i in indexes]


# The usual reads, always tried: one event a read, then usage; several a read; CRLF;
# a third blank line; thinking before the first visible chunk.
_USUAL = [
    _events(0, 2, 2, 6, 7, 11),
    [b"".join(_events(0, 2)), b"".join(_events(2, 8, 11)), *_events(2, 7)],
    _events(0, 2, 2, 7, newline=b"\r\n"),
    _events(0, 2, 2, 2, 7, blank=3),
    _events(0, 3, 4, 3, 2, 5, 2, 8),
    # Reads that look like one whole delta event, and are not quite:
    [*_events(0, 2), b"event: content_block_delta\ndata: {}\nx", b"\n\n", *_events(2)],
    [*_events(0, 2), b"event: content_block_delta\n\n\n", *_events(2), b"\n\n\n"],
    [*_events(0, 2), b"event: content_block_delta\n\n\n"],
    [*_events(0, 2), b"event: content_block_delta\ndata: a\r\rcontent_block_delta\n\n"],
    [*_events(0, 2), b"event: ping", *_events(2), b"event: content_block_delta\n", b"\n"],
    # Reads with no line feed at all, or one line then a blank one, that are no delta:
    [*_events(0, 2), b"event: content_block_delta", b"\ndata: {}\n\n", b": keep-alive\n\n"],
]


@settings(deadline=None, max_examples=600)
@given(st.one_of(anthropic_chunked(), anthropic_chunked(), chunked), rules)
@example((b"", _USUAL[0]), "auto")
@example((b"", _USUAL[1]), "auto")
@example((b"", _USUAL[2]), "auto")
@example((b"", _USUAL[3]), "auto")
@example((b"", _USUAL[4]), "auto")
@example((b"", _USUAL[4]), "visible")
@example((b"", _USUAL[5]), "auto")
@example((b"", _USUAL[6]), "auto")
@example((b"", _USUAL[7]), "auto")
@example((b"", _USUAL[8]), "auto")
@example((b"", _USUAL[9]), "auto")
@example((b"", _USUAL[10]), "auto")
def test_the_fast_path_agrees_with_feed_on_every_chunking(
    case: tuple[bytes, list[bytes]], rule: str
) -> None:
    """``after`` (which handles an Anthropic stream's later reads with a few byte
    searches) leaves the scanner exactly as ``feed`` would: the same chunk times (one
    stamp a read), usage, first tokens, shape and held bytes, whatever the cuts (events
    split across reads, several a read), line endings, thinking and usage events."""
    _body, chunks = case
    assert _scan_with(rule, chunks, fast=True) == _scan_with(rule, chunks, fast=False)


class _Bytes(bytes):
    """A bytes subclass, as a custom byte stream may yield."""


@FUZZ
@given(
    st.one_of(anthropic_chunked(), chunked),
    st.booleans(),
    st.sampled_from([bytes, bytes, bytearray, _Bytes]),
    st.sampled_from(sorted(CHECKS)),
)
@example((b"", _USUAL[0]), False, bytes, "python")
@example((b"", _USUAL[0]), False, bytearray, "python")
@example((b"", _USUAL[5]), True, _Bytes, "python")
@example((b"", _USUAL[10]), False, bytearray, "python")
@example((b"", _USUAL[10]), True, _Bytes, "python")
@example((b"", _USUAL[10]), False, bytes, "python")
@example((b"", _USUAL[0]), True, bytes, "python")
@example((b"", _USUAL[1]), False, bytes, "python")
@example((b"", _USUAL[1]), True, bytes, "python")
@example((b"", _USUAL[2]), False, bytes, "python")
@example((b"", _USUAL[2]), True, bytes, "python")
@example((b"", _USUAL[3]), False, bytes, "python")
@example((b"", _USUAL[3]), True, bytes, "python")
@example((b"", _USUAL[4]), False, bytes, "python")
@example((b"", _USUAL[4]), True, bytes, "python")
@example((b"", _USUAL[5]), False, bytes, "python")
@example((b"", _USUAL[5]), True, bytes, "python")
@example((b"", _USUAL[6]), False, bytes, "python")
@example((b"", _USUAL[6]), True, bytes, "python")
@example((b"", _USUAL[7]), False, bytes, "python")
@example((b"", _USUAL[7]), True, bytes, "python")
@example((b"", _USUAL[8]), False, bytes, "python")
@example((b"", _USUAL[8]), True, bytes, "python")
@example((b"", _USUAL[9]), False, bytes, "python")
@example((b"", _USUAL[9]), True, bytes, "python")
def test_the_wrapper_records_what_the_scanner_does(
    case: tuple[bytes, list[bytes]], in_async: bool, kind: type[bytes], check: str
) -> None:
    """The byte stream wrapper, sync and async, which hands chunks straight to
    ``after`` once the first token is found, and stamps the usual read of a steady
    Anthropic stream itself, leaves the request's scanner as feeding every chunk
    would: the same chunk times, one stamp a read, from the same clock; whether the
    stack hands over bytes, a bytearray or a bytes subclass, and whether the per-chunk
    check is the compiled one or its Python twin."""
    _body, raw = case
    chunks: list[bytes] = [kind(chunk) for chunk in raw]
    clock = _Clock()
    with (
        mock.patch.object(scanner_module, "perf_counter", clock),
        mock.patch.object(sync_module, "perf_counter", clock),
        mock.patch.object(async_module, "perf_counter", clock),
        mock.patch.object(sync_module, "is_delta_event", CHECKS[check]),
        mock.patch.object(async_module, "is_delta_event", CHECKS[check]),
    ):
        request = _request()
        if in_async:

            async def read() -> list[bytes]:
                stream = AsyncTimingByteStream(_ClockedBody(chunks, clock), request)
                return [chunk async for chunk in stream]

            assert asyncio.run(read()) == chunks
        else:
            assert list(TimingByteStream(_ClockedBody(chunks, clock), request)) == chunks
        got = None if request.scanner is None else _state(request.scanner)
    expected = _scan_with(first_token_rule.name, chunks, fast=False)
    if got is None:  # not an event stream: the wrapper stopped watching
        assert expected is None or not any(chunks)
    else:
        assert got == expected


NEAR_MISSES = [
    b"event: content_block_delta\ndata: {}\r\n\n",  # a CR in the line
    b"event: content_block_delta\ndata: {}\n",  # no blank line yet
    b"\n",
    b"event: content_block_delta\n\n\n",  # no line between
    b"event: content_block_deltas\ndata: {}\n\n",
    b"event: content_block_delta\ndata: {}\ndata: {}\n\n",  # two lines
    b"event: content_block_delta\ndata: {}",  # no line end yet
    b"\n\n",
    b": keep-alive\n\n",  # one line, no event line
]


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_wrapper_stamps_the_usual_reads_itself(check: str) -> None:
    """The inline check is what handles a long stream's usual reads (one whole delta
    event each), not ``after``; and a read that only looks like one goes to ``after``."""
    chunks = _events(0, 2, 2, 2, 2)
    near_misses = NEAR_MISSES
    request = _request()
    with (
        mock.patch.object(FirstTokenScanner, "after", autospec=True) as after,
        mock.patch.object(sync_module, "is_delta_event", CHECKS[check]),
    ):
        after.side_effect = lambda scanner, chunk: FirstTokenScanner.feed(scanner, chunk)
        assert list(TimingByteStream(_Body([*chunks, *near_misses]), request)) == [
            *chunks,
            *near_misses,
        ]
    assert request.scanner is not None
    # Found in the first delta, the token left three usual reads to the inline check,
    # and every near miss to after.
    assert [call.args[1] for call in after.call_args_list] == near_misses
    fed = FirstTokenScanner(first_token_rule.name)
    for chunk in [*chunks, *near_misses]:
        fed.feed(chunk)
    # Four deltas, then six from the near misses (the second and third make one event,
    # and so do the seventh and eighth; the keep-alive is none).
    assert len(request.scanner.chunks) == len(fed.chunks) == 10


# -- the per-chunk check, compiled and in Python -------------------------------------------

# Reads built round the delta event's parts (which arbitrary bytes rarely hit): its event
# line or a near miss of it, a middle with or without CR and LF, its end or a near miss.
_heads = st.sampled_from(
    [DELTA_LINE, DELTA_LINE, DELTA_LINE[:-1], DELTA_LINE + b"\n", b"event: ping\n", b""]
)
_middles = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from([b"data: {}", b"\n", b"\r", b"x", b"\x00", b"\xff"]), max_size=6).map(
        b"".join
    ),
)
_ends = st.sampled_from([EVENT_END, EVENT_END, b"\n", b"\r\n\r\n", b"\n\n\n", b"\r\r", b""])
delta_like = st.one_of(
    st.tuples(_heads, _middles, _ends).map(b"".join),
    st.binary(max_size=60),
    st.sampled_from([*NEAR_MISSES, *_events(2, 3, 5, 7)]),
)


@pytest.mark.skipif(compiled_is_delta_event is None, reason="pytest_ttfb.measure._delta not built")
@settings(deadline=None, max_examples=2000)
@given(delta_like, st.sampled_from([bytes, bytes, bytearray, _Bytes, memoryview]))
def test_the_compiled_check_answers_as_its_python_twin(read: bytes, kind: type) -> None:
    """``_delta.is_delta_event`` (C) says of every read what ``_is_delta_event`` says,
    for exact bytes and for the types a custom stream may yield instead (no to each)."""
    assert compiled_is_delta_event is not None
    chunk = kind(read)
    compiled = compiled_is_delta_event(chunk)
    assert compiled is scanner_module._is_delta_event(chunk)
    if kind is bytes:  # the twin's own meaning, spelt out: what CI checks both against
        body = read.removeprefix(DELTA_LINE).removesuffix(EVENT_END)
        assert compiled is (
            read.startswith(DELTA_LINE)
            and read.endswith(EVENT_END)
            and len(read) >= len(DELTA_LINE) + len(EVENT_END) + 1
            and b"\n" not in body
            and b"\r" not in body
        )


@pytest.mark.skipif(compiled_is_delta_event is None, reason="pytest_ttfb.measure._delta not built")
@pytest.mark.parametrize("other", [None, 0, 10**30, "event: content_block_delta\ndata: x\n\n"])
def test_the_compiled_check_says_no_to_what_is_no_bytes(other: object) -> None:
    assert compiled_is_delta_event is not None
    assert compiled_is_delta_event(other) is False
    assert scanner_module._is_delta_event(other) is False


@pytest.mark.parametrize("value", ["1", ""])
def test_the_python_twin_runs_when_asked(value: str) -> None:
    """``PYTEST_TTFB_NO_EXTENSIONS=1`` makes the byte streams use the Python twin (an
    empty value does not), whether or not the compiled check was built."""
    code = (
        "from pytest_ttfb.measure import _sync, _async, scanner\n"
        "print(scanner.EXTENSION, _sync.is_delta_event is scanner._is_delta_event,"
        " _async.is_delta_event is scanner._is_delta_event)"
    )
    env = {**os.environ, "PYTEST_TTFB_NO_EXTENSIONS": value}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    built = compiled_is_delta_event is not None
    if value:
        assert out == ["False", "True", "True"]
    else:
        assert out == [str(built), str(not built), str(not built)]
