"""The first-token scanner and the byte stream wrapper under arbitrary input.

Arbitrary bytes (and bytes that look like server-sent events, which arbitrary bytes
rarely do), cut into arbitrary chunks: the scanner never raises, the wrapper hands
the caller every byte unchanged, and feeding chunk by chunk finds the first token
in the same place as feeding the whole body at once.
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import AsyncIterator

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ttfb.measure._async import AsyncTimingByteStream
from pytest_ttfb.measure._sync import TimingByteStream
from pytest_ttfb.measure.inflight import InFlight
from pytest_ttfb.measure.scanner import FIRST_TOKEN_RULES, FirstTokenScanner, first_token_rule

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
