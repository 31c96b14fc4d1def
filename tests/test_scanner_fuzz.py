"""The first-token scanner and the byte stream wrapper under arbitrary input.

Arbitrary bytes (and bytes that look like server-sent events, which arbitrary bytes
rarely do), cut into arbitrary chunks: the scanner never raises, the wrapper hands
the caller every byte unchanged, and feeding chunk by chunk finds the first token
in the same place as feeding the whole body at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
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
    FIRST_TOKEN_RULES,
    FirstTokenScanner,
    first_token_rule,
)

# The byte stream's per-chunk checks and the stamper that binds them to a stream's chunk
# times, each way they may run: compiled, and their Python twins
# (``tests/test_delta_checks.py`` compares the two directly).
CHECK_NAMES = ("is_delta_event", "is_output_delta_event", "is_chat_content_event", "stamper")
CHECKS: dict[str, dict[str, Callable[..., object]]] = {
    "python": {name: getattr(scanner_module, f"_{name}") for name in CHECK_NAMES}
}
try:
    from pytest_ttfb.measure import _delta
except ImportError:  # a checkout not built (no C compiler): the twins alone are tested
    pass
else:
    CHECKS["compiled"] = {name: getattr(_delta, name) for name in CHECK_NAMES}


def _using(stack: contextlib.ExitStack, checks: str) -> None:
    """Make the scanner hand the byte streams this set of checks, bound by this set's
    stamper (``steady``)."""
    for name, check in CHECKS[checks].items():
        stack.enter_context(mock.patch.object(scanner_module, name, check))


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


def _provider_chunked(
    events: list[bytes], newlines: list[bytes]
) -> st.SearchStrategy[tuple[bytes, list[bytes]]]:
    """A provider-like stream made of ``events`` (one line ending, drawn from
    ``newlines``, for the whole stream; a stray event of any kind now and then) cut as a
    socket delivers it: mostly at event ends (one or several whole events a read),
    sometimes inside an event too."""

    @st.composite
    def draw_stream(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
        newline = draw(st.sampled_from(newlines))
        one = st.tuples(
            st.sampled_from(events),
            st.sampled_from([2, 2, 2, 3]),  # a blank line ends an event; a third starts the next
        ).map(lambda parts: parts[0].replace(b"\n", newline) + newline * parts[1])
        drawn = draw(st.lists(st.one_of(*[one] * 12, event), min_size=1, max_size=40))
        body = b"".join(drawn)
        ends = list(itertools.accumulate(len(e) for e in drawn))
        keep = draw(st.lists(st.booleans(), min_size=len(ends), max_size=len(ends)))
        inside = draw(
            st.lists(st.integers(0, len(body)), max_size=draw(st.sampled_from([0, 0, 3])))
        )
        cuts = [end for end, kept in zip(ends, keep, strict=True) if kept] + inside
        return body, _cut(body, cuts)

    return draw_stream()


def anthropic_chunked() -> st.SearchStrategy[tuple[bytes, list[bytes]]]:
    """An Anthropic-like stream, mostly LF line endings."""
    return _provider_chunked(ANTHROPIC_EVENTS, [b"\n", b"\n", b"\n", b"\r\n", b"\r"])


# OpenAI's events as the APIs send them (and odd ones): Chat Completions (one data line
# an event) and Responses (an event line, then data).
OPENAI_EVENTS = [
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}',
    b'data: {"choices":[{"index":0,"delta":{"content" : "\\"quoted\\""}}]}',
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{}}]}}]}',
    b'data: {"choices":[{"index":0,"delta":{"tool_calls": [ ]}}]}',
    b'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"completion_tokens":2}}',
    b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":9}}',
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    b"data: [DONE]",
    b'event: response.created\ndata: {"type":"response.created"}',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}',
    b"event: response.function_call_arguments.delta\ndata: "
    b'{"type":"response.function_call_arguments.delta","delta":"{"}',
    b'event: response.output_text.delta \ndata: {"type":"response.output_text.delta"}',
    b'data: {"type":"response.output_text.delta","delta":"no event line"}',
    b'event: response.completed\ndata: {"type":"response.completed","response":'
    b'{"usage":{"output_tokens":12}}}',
    b": keep-alive",
]


def openai_chunked() -> st.SearchStrategy[tuple[bytes, list[bytes]]]:
    """An OpenAI-like stream (Chat Completions and Responses events mixed as drawn; the
    first one decides the shape)."""
    return _provider_chunked(OPENAI_EVENTS, [b"\n", b"\n", b"\n", b"\r\n"])


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
@given(st.one_of(anthropic_chunked(), anthropic_chunked(), openai_chunked(), chunked), rules)
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


def _openai(*indexes: int) -> list[bytes]:
    """Reads of one whole OpenAI event each (OPENAI_EVENTS by index)."""
    return [OPENAI_EVENTS[i] + b"\n\n" for i in indexes]


# The usual Chat Completions stream (role, content, tool calls, a content chunk carrying
# usage, usage, done) and Responses stream (text and argument deltas, an event line
# with a trailing space, a delta with no event line, usage), one event a read.
_OPENAI_USUAL = [
    _openai(0, 1, 1, 2, 3, 4, 1, 5, 7, 6, 8),
    _openai(9, 10, 10, 11, 12, 13, 10, 14),
]


class _Bytes(bytes):
    """A bytes subclass, as a custom byte stream may yield."""


@settings(deadline=None, max_examples=600)
@given(
    st.one_of(anthropic_chunked(), openai_chunked(), chunked),
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
@example((b"", _OPENAI_USUAL[0]), False, bytes, "python")
@example((b"", _OPENAI_USUAL[0]), True, bytes, "python")
@example((b"", _OPENAI_USUAL[1]), False, bytes, "python")
@example((b"", _OPENAI_USUAL[1]), True, bytes, "python")
def test_the_wrapper_records_what_the_scanner_does(
    case: tuple[bytes, list[bytes]], in_async: bool, kind: type[bytes], check: str
) -> None:
    """The byte stream wrapper, sync and async, which hands chunks straight to
    ``after`` once the first token is found, and stamps the usual read of a steady
    stream itself (Anthropic, Chat Completions, Responses), leaves the request's
    scanner as feeding every chunk would: the same chunk times, one stamp a read, from
    the same clock; whether the stack hands over bytes, a bytearray or a bytes
    subclass, and whether the per-chunk checks are compiled or their Python twins."""
    _body, raw = case
    chunks: list[bytes] = [kind(chunk) for chunk in raw]
    clock = _Clock()
    with (
        mock.patch.object(scanner_module, "perf_counter", clock),
        mock.patch.object(sync_module, "perf_counter", clock),
        mock.patch.object(async_module, "perf_counter", clock),
        contextlib.ExitStack() as checks,
    ):
        _using(checks, check)
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
        contextlib.ExitStack() as checks,
    ):
        _using(checks, check)
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


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize(
    ("shape", "usual", "others", "content_chunks"),
    [
        # Chat Completions: content and tool-call chunks are usual reads; a role chunk
        # (empty content), a content chunk carrying usage (a content chunk all the
        # same), usage alone, a finish and the end are not.
        ("chat", [1, 2, 3, 1], [0, 5, 6, 7, 8], 1 + 8 + 1),
        # Responses: text and argument deltas are; an event line with a trailing
        # space and a delta with no event line (content chunks, found by ``feed``),
        # and the usage report are not.
        ("responses", [10, 11, 10], [12, 13, 14], 1 + 6 + 2),
    ],
)
def test_the_wrapper_stamps_the_usual_openai_reads_itself(
    check: str, shape: str, usual: list[int], others: list[int], content_chunks: int
) -> None:
    """As for Anthropic: once the first token is found, a read that is one whole content
    event of the stream's shape is stamped in the byte stream's loop, any other goes to
    ``after``; the scanner ends as feeding every read would leave it."""
    first = [1] if shape == "chat" else [9, 10]
    reads = [*_openai(*first), *_openai(*usual), *_openai(*others), *_openai(*usual)]
    request = _request()
    clock = _Clock()
    with (
        mock.patch.object(FirstTokenScanner, "after", autospec=True) as after,
        mock.patch.object(scanner_module, "perf_counter", clock),
        mock.patch.object(sync_module, "perf_counter", clock),
        contextlib.ExitStack() as checks,
    ):
        _using(checks, check)
        after.side_effect = lambda scanner, chunk: FirstTokenScanner.feed(scanner, chunk)
        assert list(TimingByteStream(_ClockedBody(reads, clock), request)) == reads
    assert request.scanner is not None
    assert request.scanner.shape == shape
    assert [call.args[1] for call in after.call_args_list] == _openai(*others)
    # The same chunk times, from the same clock, as feeding every read.
    assert _state(request.scanner) == _scan_with(first_token_rule.name, reads, fast=False)
    assert len(request.scanner.chunks) == content_chunks


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("in_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("built", ["while open", "when done"])
@pytest.mark.parametrize(
    "reads",
    [_events(0, 2, *[2] * 50, 7), _openai(1, *[1] * 50, 7), _openai(9, *[10] * 50)],
    ids=["anthropic", "chat", "responses"],
)
def test_once_the_request_is_done_nothing_holds_the_streams_chunk_array(
    check: str, in_async: bool, built: str, reads: list[bytes]
) -> None:
    """The function ``steady`` hands out holds the stream's chunk array (its append),
    and the scanner caches it: once the body is read and closed and the record built
    (before the close or after), the record's exact-size copy is all that is left, the
    array itself gone with the scanner, its stamper and the byte stream."""
    request = _request()

    def read_all(stream: Iterator[bytes] | list[bytes]) -> weakref.ref[object]:
        # (the array's reference taken once the last read has gone by)
        assert list(stream) == reads
        scanner = request.scanner
        assert scanner is not None
        assert scanner._stamp is not None  # (the byte stream's loop made and used it)
        if built == "while open":
            request.timing()
        return weakref.ref(scanner.chunks)

    with contextlib.ExitStack() as checks:
        _using(checks, check)
        if in_async:

            async def run() -> weakref.ref[object]:
                stream = AsyncTimingByteStream(_Body(reads), request)
                ref = read_all([chunk async for chunk in stream])
                await stream.aclose()
                return ref

            array_ref = asyncio.run(run())
        else:
            stream = TimingByteStream(_Body(reads), request)
            array_ref = read_all(iter(stream))
            stream.close()
            del stream
    record = request.timing()
    assert request.scanner is None
    fed = FirstTokenScanner(first_token_rule.name)
    for read in reads:
        fed.feed(read)
    assert record.chunk_ms is not None
    assert len(record.chunk_ms) == len(fed.chunks) >= 50
    assert array_ref() is None


# Reads that are one whole content event of some shape (and near ones), as ``steady``'s
# checks may be asked of them.
_CONTENT_READS = [
    *(event + b"\n\n" for event in ANTHROPIC_EVENTS),
    *(event + b"\n\n" for event in OPENAI_EVENTS),
    b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n',
    b'data: {"choices":[{"delta":{"content":"\\"completion_tokens\\""}}]}\n\n',
    b'event: response.output_text.delta\ndata: {"delta":"a","output_tokens":5}\n\n',
    b'{"choices":[{"delta":{"content":"no data field"}}]}\n\n',
]


@settings(deadline=None, max_examples=400)
@given(
    st.one_of(anthropic_chunked(), openai_chunked(), chunked),
    rules,
    st.sampled_from(sorted(CHECKS)),
    st.sampled_from(_CONTENT_READS),
)
def test_a_read_the_steady_check_approves_is_one_feed_would_only_stamp(
    case: tuple[bytes, list[bytes]], rule: str, check: str, read: bytes
) -> None:
    """Whatever state a scanner is in (any rule, any stream so far), a read the check
    ``steady`` hands out says yes to changes nothing but one chunk time when fed: its
    stamp is exactly ``feed``. Two scanners fed alike on twin clocks, then one fed the
    read and the other handed it to ``steady``'s function (which leaves a read it says
    no to alone)."""
    _body, chunks = case
    clocks = _Clock(), _Clock()
    scanners = []
    with contextlib.ExitStack() as checks:
        _using(checks, check)
        for clock in clocks:
            with mock.patch.object(scanner_module, "perf_counter", clock):
                scanner = FirstTokenScanner(rule)
                for chunk in clock.reads(chunks):
                    if scanner.feed(chunk) is None:
                        return
                scanners.append(scanner)
        fed, stamped = scanners
        with mock.patch.object(scanner_module, "perf_counter", clocks[1]):
            steady = stamped.steady()
        if steady is None:
            return
        before = _state(stamped)
        if not steady(read):  # a read it says no to is left alone
            assert _state(stamped) == before
            return
        with mock.patch.object(scanner_module, "perf_counter", clocks[0]):
            assert fed.feed(read) is False
    assert _state(fed) == _state(stamped)


@pytest.mark.parametrize(
    "first",
    [
        b"event: message_start\n\n",  # Anthropic's shape, fixed by an event with no data
        b'event: response.created\n: {"type":"response.created"}\n\n',  # (a comment line)
    ],
)
def test_the_data_rule_finds_the_first_data_after_a_shape_fixed_without_data(
    first: bytes,
) -> None:
    """``data`` is the first event carrying ``data:``, whichever event fixed the
    stream's shape: one without data leaves it to the next one with data."""
    scanner = FirstTokenScanner("data")
    assert scanner.feed(first) is False
    assert scanner.shape is not None
    assert scanner.first_data_ms is None
    later = b'event: ping\ndata: {"type": "ping"}\n\n'
    assert scanner.feed(later) is True
    assert scanner.first_data_ms is not None
    assert "data" in scanner.by_rule()
