"""scanner: the events of a stream of server-sent events, watched on the fly.

The scanner holds only the event being received, never the stream. For each event it
decides, with substring tests on the raw bytes (JSON is parsed only for a usage report,
and for the ``visible`` rule until it has found its token), whether it is a *content
chunk*:

- an Anthropic Messages stream: every ``content_block_delta`` (text, thinking and
  ``input_json_delta`` alike);
- an OpenAI Chat Completions stream: a chunk whose ``choices[].delta`` carries
  ``content`` (a non-empty string) or ``tool_calls``;
- an OpenAI Responses stream: a ``response.output_text.delta`` or
  ``response.function_call_arguments.delta`` event;
- any other event stream: every event carrying ``data:``.

The stream's shape is decided by the first event that is recognisably a provider's
(``message_start``, ``content_block_*``, ``"choices"``, ``response.*``); until then the
stream counts as a plain event stream. Each content chunk's arrival is kept as
milliseconds from the request's start in an ``array('d')`` (8 bytes a chunk), with the
stream's own count of output tokens when it reports one, and the first-token time of
each rule that fits the stream's shape (``by_rule``).
"""

from __future__ import annotations

import json
import re
import zlib
from array import array
from collections.abc import Callable
from time import perf_counter
from typing import Any

from ._compiled import compiled

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "DELTA_LINE",
    "EVENTS",
    "EVENT_END",
    "EVENT_FIELDS",
    "EXTENSION",
    "FIELD_INITIALS",
    "FIRST_TOKEN_RULES",
    "OUTPUT_DELTA_LINES",
    "RESPONSES",
    "RULES_FOR_SHAPE",
    "SHAPE_NAMES",
    "DecodingScanner",
    "FirstTokenScanner",
    "decoder_for",
    "first_token_rule",
    "is_chat_content_event",
    "is_delta_event",
    "is_output_delta_event",
    "stamper",
    "use_first_token_rule",
]

# A body is a stream of server-sent events when its first line is an SSE field.
EVENT_FIELDS = (b"event:", b"data:", b"id:", b"retry:", b":")
_SNIFF_BYTES = max(len(field) for field in EVENT_FIELDS)
FIELD_INITIALS = b"edir:"

FIRST_TOKEN_RULES = {
    "auto": "by the stream's shape: delta for Anthropic, openai for OpenAI Chat Completions "
    "and Responses, data for any other event stream",
    "delta": "the first content_block_delta event, whatever it carries (as the SDK's "
    "gen_ai.response.time_to_first_chunk)",
    "visible": "the first content_block_delta that is not thinking (text, tool input)",
    "openai": "the first chunk with content: choices[0].delta.content or tool_calls "
    "(Chat Completions), or a response.output_text.delta or tool-call delta (Responses)",
    "data": "the first event carrying data: (any event stream)",
}
DEFAULT_RULE = "auto"
# The stream shapes, as records name them (``RequestTiming.stream``), and the rules that
# fit each: ``auto`` picks the first of them.
ANTHROPIC, CHAT, RESPONSES, EVENTS = "anthropic", "chat", "responses", "events"
RULES_FOR_SHAPE = {
    ANTHROPIC: ("delta", "visible", "data"),
    CHAT: ("openai", "data"),
    RESPONSES: ("openai", "data"),
    EVENTS: ("data",),
}
SHAPE_NAMES = {
    ANTHROPIC: "Anthropic Messages",
    CHAT: "OpenAI Chat Completions",
    RESPONSES: "OpenAI Responses",
    EVENTS: "plain event",
}
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_THINKING = ("thinking_delta", "signature_delta")
# Quotes inside a JSON string are escaped, so a pattern that starts with an unescaped
# quote matches a key, never text that merely mentions it.
_CHAT_CONTENT = re.compile(rb'"content"\s*:\s*"[^"]|"tool_calls"\s*:\s*\[\s*\{')
_RESPONSES_DELTA = re.compile(
    rb"(?:^|[\r\n])event: ?response\.(?:output_text|function_call_arguments)\.delta\s*$"
    rb'|"type"\s*:\s*"response\.(?:output_text|function_call_arguments)\.delta"',
    re.MULTILINE,
)
_RESPONSES_EVENT = re.compile(rb'(?:^|[\r\n])event: ?response\.|"type"\s*:\s*"response\.')
_ANTHROPIC_EVENTS = (b"message_start", b"content_block_start", b"message_delta")
_USAGE_KEYS = (b'"output_tokens"', b'"completion_tokens"')
# The usual read of a long stream, one whole content event as the API sends it: its
# event line (Anthropic's delta, or one of the Responses API's deltas; none in Chat
# Completions), one line of JSON (which cannot hold a raw CR or LF: JSON escapes them),
# then a blank line. ``FirstTokenScanner.steady`` says when the byte stream may handle
# such a read by a chunk time alone, and with which check.
DELTA_LINE = b"event: content_block_delta\n"
OUTPUT_DELTA_LINES = (
    b"event: response.output_text.delta\n",
    b"event: response.function_call_arguments.delta\n",
)
EVENT_END = b"\n\n"

# The checks below are the Python twins of ``_delta.c``'s, which run instead where it
# was compiled. They avoid ``startswith`` and ``find``, which parse a tuple of arguments
# first, dearer than the rest of the check. ``removeprefix`` and ``removesuffix`` return
# the very object when nothing comes off (hence exact bytes only: a subclass or
# bytearray copies), and 10 and 13 are LF and CR (``int in bytes`` is one memchr).


def _is_delta_event(chunk: object) -> bool:
    """Whether a read is exactly one whole ``content_block_delta`` event: exact bytes,
    ``DELTA_LINE``, one non-empty line with no CR or LF, ``EVENT_END``."""
    if type(chunk) is not bytes:
        return False
    event = chunk.removeprefix(DELTA_LINE)
    line = event.removesuffix(EVENT_END)
    return (
        event is not chunk
        and line is not event
        and bool(line)
        and 10 not in line
        and 13 not in line
    )


def _is_output_delta_event(chunk: object) -> bool:
    """Whether a read is exactly one whole output text or tool-call arguments delta of
    the Responses API: one of ``OUTPUT_DELTA_LINES``, then as ``_is_delta_event``."""
    if type(chunk) is not bytes:
        return False
    for prefix in OUTPUT_DELTA_LINES:  # (neither starts the other)
        event = chunk.removeprefix(prefix)
        if event is not chunk:
            line = event.removesuffix(EVENT_END)
            return line is not event and bool(line) and 10 not in line and 13 not in line
    return False


def _is_chat_content_event(chunk: object) -> bool:
    """Whether a read is exactly one whole one-line event (no event line) that a Chat
    Completions stream counts as a content chunk and nothing else: content or tool
    calls (``_CHAT_CONTENT``), and no usage report."""
    if type(chunk) is not bytes:
        return False
    line = chunk.removesuffix(EVENT_END)
    return (
        line is not chunk
        and bool(line)
        and 10 not in line
        and 13 not in line
        and b'"completion_tokens"' not in line
        and _CHAT_CONTENT.search(line) is not None
    )


def _stamper(
    check: Callable[[object], bool],
    clock: Callable[[], float],
    append: Callable[[float], object],
    start: float,
) -> Callable[[object], bool]:
    """A function of one read: whether ``check`` holds for it, and if so, its chunk time
    (``clock``, in ms from ``start``) handed to ``append``."""

    def stamp(chunk: object) -> bool:
        if check(chunk):
            append((clock() - start) * 1000.0)
            return True
        return False

    return stamp


# Compiled where a C compiler was at install time (each a fraction of a microsecond
# less a chunk, measured in the README), else the twins above (``_compiled``).
is_delta_event: Callable[[object], bool] = _is_delta_event
is_output_delta_event: Callable[[object], bool] = _is_output_delta_event
is_chat_content_event: Callable[[object], bool] = _is_chat_content_event
stamper: Callable[
    [Callable[[object], bool], Callable[[], float], Callable[[float], object], float],
    Callable[[object], bool],
] = _stamper
_delta = compiled(
    "_delta", ("is_delta_event", "is_output_delta_event", "is_chat_content_event", "stamper")
)
EXTENSION = _delta is not None
if _delta is not None:
    is_delta_event = _delta.is_delta_event
    is_output_delta_event = _delta.is_output_delta_event
    is_chat_content_event = _delta.is_chat_content_event
    stamper = _delta.stamper


class _Rule:
    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = DEFAULT_RULE


first_token_rule = _Rule()


def use_first_token_rule(rule: str) -> None:
    """Which event of a stream counts as its first token (a key of FIRST_TOKEN_RULES)."""
    if rule not in FIRST_TOKEN_RULES:
        raise ValueError(f"unknown first-token rule {rule!r}")
    first_token_rule.name = rule


def _event_data(event: bytes) -> tuple[str, Any]:
    """An SSE event's name and its data parsed as JSON (``None`` if it is not JSON)."""
    name, data = "", []
    for line in event.splitlines():
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
    try:
        return name, json.loads(b"\n".join(data))
    except (ValueError, RecursionError):  # not JSON, or nested deeper than json can go
        return name, None


def _has_data(event: bytes) -> bool:
    return event.startswith(b"data:") or b"\ndata:" in event or b"\rdata:" in event


def _is_visible(event: bytes) -> bool:
    """A content_block_delta that is not thinking (parsed only when it may be)."""
    if b"thinking_delta" not in event and b"signature_delta" not in event:
        return True
    _, data = _event_data(event)
    delta = data.get("delta") if isinstance(data, dict) else None
    return isinstance(delta, dict) and delta.get("type") not in _THINKING


def _usage(shape: str | None, event: bytes) -> int | None:
    """The output tokens a usage event reports, by the stream's shape."""
    _, data = _event_data(event)
    if not isinstance(data, dict):
        return None
    if shape == RESPONSES:
        response = data.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        key = "output_tokens"
    else:
        usage = data.get("usage")
        key = "completion_tokens" if shape == CHAT else "output_tokens"
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class FirstTokenScanner:
    """Watches a body's events as they come, across chunk boundaries, without
    buffering the stream or delaying the caller: the time of every content chunk, the
    stream's own count of output tokens, and the first token by each rule.

    It first decides whether the body is a stream of server-sent events at all, from
    its first bytes (an SSE field such as ``event:`` or ``data:``; JSON starts with
    ``{``); reading the content-type header instead would cost more than the rest of
    the hot path. Then it holds only the event being received, until it is complete.
    ``start`` is the request's start on the ``perf_counter`` clock: chunk times are
    milliseconds from it.
    """

    __slots__ = (
        "_events",
        "_pending",
        "_rule",
        "_stamp",
        "chunks",
        "first_data_ms",
        "found",
        "output_tokens",
        "shape",
        "start",
        "token_at",
        "visible_ms",
    )

    def __init__(self, rule: str, start: float = 0.0) -> None:
        self._rule = rule
        self.start = start
        self._events: bool | None = None  # undecided until enough bytes have come
        self._pending = b""
        self.chunks = array("d")  # content chunks' arrivals, ms from the start
        self.shape: str | None = None  # None: a plain event stream (so far)
        self.output_tokens: int | None = None
        self.first_data_ms: float | None = None
        self.visible_ms: float | None = None
        self.found = False  # the session rule's first token has been seen
        self.token_at: float | None = None  # when (perf_counter), for the record
        self._stamp: Callable[[object], bool] | None = None  # made by steady, once

    def feed(self, chunk: bytes) -> bool | None:
        """True: the first token (by the scanner's rule) is in this chunk. False: not
        here (yet, or already found earlier). None: the body is not an event stream,
        stop feeding. Keep feeding every chunk while it says True or False."""
        pending = self._pending + chunk if self._pending else chunk
        if self._events is None:
            head = pending.lstrip(b"\xef\xbb\xbf\r\n")
            if head.startswith(EVENT_FIELDS):
                self._events = True
            elif not head or (
                len(head) < _SNIFF_BYTES
                and head[:1] in FIELD_INITIALS  # cheap no for JSON, before the full check
                and any(field.startswith(head) for field in EVENT_FIELDS)
            ):
                self._pending = pending  # nothing yet, or the start of a field: wait
                return False
            else:
                self._pending = pending  # what was sniffed, for a decoding second look
                return None
        # Usually no CR: one split in C, the same cuts as the regular expression's.
        events = _EVENT_END.split(pending) if b"\r" in pending else pending.split(b"\n\n")
        self._pending = events.pop()
        ms = -1.0
        chunks = self.chunks
        found_here = False
        for event in events:
            if not self.found:
                # Decided event by event, as the bytes arrive: a later event of the
                # same read (one that reclassifies a plain stream) cannot take back a
                # first token already seen, just as it could not across reads.
                token = self.rule_ms(self._rule)
                if token is not None:
                    self.found = found_here = True
                    self.token_at = self.start + token / 1000.0
            shape = self.shape
            if shape is None:
                shape = self._classify(event)
                if shape is None:
                    continue
            elif self.first_data_ms is None and _has_data(event):
                # The event that fixed the shape carried no data: the first that does is
                # the data rule's token.
                if ms < 0:
                    ms = (perf_counter() - self.start) * 1000.0
                self.first_data_ms = ms
            if shape == ANTHROPIC:
                if b"content_block_delta" in event:
                    if ms < 0:
                        ms = (perf_counter() - self.start) * 1000.0
                    chunks.append(ms)
                    if self.visible_ms is None and _is_visible(event):
                        self.visible_ms = ms
                elif b'"output_tokens"' in event:
                    self._count(shape, event)
            elif shape == CHAT:
                if _CHAT_CONTENT.search(event) is not None:
                    if ms < 0:
                        ms = (perf_counter() - self.start) * 1000.0
                    chunks.append(ms)
                if b'"completion_tokens"' in event:
                    self._count(shape, event)
            elif _RESPONSES_DELTA.search(event) is not None:
                if ms < 0:
                    ms = (perf_counter() - self.start) * 1000.0
                chunks.append(ms)
            elif b'"output_tokens"' in event:
                self._count(shape, event)
        if self.found:
            return found_here
        token = self.rule_ms(self._rule)
        if token is None:
            return False
        self.found = True
        self.token_at = self.start + token / 1000.0
        return True

    def steady(self) -> Callable[[object], bool] | None:
        """What the byte stream may call on each read instead of ``after``, or None while
        there is nothing: a function that says whether a read is one whole content
        event of the stream's shape (``is_delta_event``, ``is_output_delta_event`` or
        ``is_chat_content_event``) and if so appends its chunk time, made by ``stamper``
        from this scanner's clock. There is one with no event half received, once the
        first token and the first data event are found (and for Anthropic, the first
        visible chunk): ``feed`` would then do nothing else with such a read. (Before
        then, a content event may be one of those firsts: ``feed`` has more to do.)"""
        if self._pending or not self.found or self.first_data_ms is None:
            return None
        stamp = self._stamp
        if stamp is not None:  # (the check for a shape, once there is one, stays)
            return stamp
        shape = self.shape
        if shape == ANTHROPIC:
            if self.visible_ms is None:
                return None
            check = is_delta_event
        elif shape == RESPONSES:
            check = is_output_delta_event
        elif shape == CHAT:
            check = is_chat_content_event
        else:
            return None
        # (the chunk array is cleared in place, never replaced: its append stays good)
        self._stamp = stamp = stamper(check, perf_counter, self.chunks.append, self.start)
        return stamp

    def after(self, chunk: bytes) -> None:
        """Feed a chunk once the first token has been found (``found``): exactly what
        ``feed`` does with it (which would return False), cheaper on the usual stream.

        Once an Anthropic stream's first token, first data event and first visible chunk
        are all known, an event's only effect is a chunk time (a ``content_block_delta``)
        or a usage count (``"output_tokens"``), so a read is handled with a few C-level
        searches and one split at most. Anything else (other shapes, CR line endings, a
        stream still in its thinking) goes through ``feed``.
        """
        if self.visible_ms is None or self.shape != ANTHROPIC or self.first_data_ms is None:
            self.feed(chunk)
            return
        pending = self._pending + chunk if self._pending else chunk
        # ``13 in`` (a byte value: one memchr) rather than ``b"\r" in``, which before
        # Python 3.13 first tries its operand as an integer and clears the TypeError.
        if 13 in pending:  # CR or CRLF endings: the regular expression's cuts
            self.feed(chunk)
            return
        end = pending.find(b"\n\n")
        if end < 0:  # the event goes on in the next read
            self._pending = pending
            return
        if end == len(pending) - 2:  # one whole event: what split would make of it
            self._pending = b""
            if pending.find(b"content_block_delta") >= 0:
                self.chunks.append((perf_counter() - self.start) * 1000.0)
            elif pending.find(b'"output_tokens"') >= 0:
                self._count(ANTHROPIC, pending[:end])
            return
        events = pending.split(b"\n\n")
        self._pending = events.pop()
        deltas = 0
        for event in events:
            if event.find(b"content_block_delta") >= 0:
                deltas += 1
            elif event.find(b'"output_tokens"') >= 0:
                self._count(ANTHROPIC, event)
        if deltas:  # one stamp a read, as ``feed`` does
            self.chunks.extend(array("d", ((perf_counter() - self.start) * 1000.0,)) * deltas)

    def _count(self, shape: str, event: bytes) -> None:
        tokens = _usage(shape, event)
        if tokens is not None:
            self.output_tokens = tokens

    def _classify(self, event: bytes) -> str | None:
        """While the stream is a plain event stream: whose stream this event says it
        is (the shape is then fixed, and what was counted as plain chunks is dropped),
        or ``None`` (a plain event: a chunk when it carries data)."""
        if b"content_block_delta" in event or any(k in event for k in _ANTHROPIC_EVENTS):
            shape = ANTHROPIC
        elif b'"choices"' in event:
            shape = CHAT
        elif _RESPONSES_EVENT.search(event) is not None:
            shape = RESPONSES
        else:
            if _has_data(event):
                ms = (perf_counter() - self.start) * 1000.0
                self.chunks.append(ms)
                if self.first_data_ms is None:
                    self.first_data_ms = ms
            return None
        if self.first_data_ms is None and _has_data(event):
            self.first_data_ms = (perf_counter() - self.start) * 1000.0
        self.shape = shape
        del self.chunks[:]
        # A first token already reported (a plain data event, by auto) stays: it was
        # stamped when its bytes arrived, and no later event can un-send it.
        return shape

    def rule_ms(self, rule: str) -> float | None:
        """The first token by ``rule`` (ms from the start), None when the rule does not
        fit the stream's shape or has found nothing yet."""
        shape = self.shape or EVENTS
        if rule == "auto":
            rule = RULES_FOR_SHAPE[shape][0]
        if rule == "data":
            return self.first_data_ms
        if rule == "visible":
            return self.visible_ms if shape == ANTHROPIC else None
        if rule not in RULES_FOR_SHAPE[shape] or not self.chunks:
            return None
        return self.chunks[0]

    def by_rule(self) -> dict[str, float]:
        """The first token by each rule that fits the stream's shape and found one."""
        found = {}
        for rule in RULES_FOR_SHAPE[self.shape or EVENTS]:
            ms = self.rule_ms(rule)
            if ms is not None:
                found[rule] = ms
        return found

    @property
    def head(self) -> bytes:
        """Every byte fed so far, once ``feed`` said the body is no event stream."""
        return self._pending


class DecodingScanner(FirstTokenScanner):
    """A scanner for a content-encoded body: decodes each chunk, then scans the events.

    Used only when the first bytes were no event stream and the response named a
    content-encoding this module can decode, so plain bodies never pay for it. A
    decoding error ends the watch (no first token), never the caller's read.
    """

    __slots__ = ("_decode",)

    def __init__(self, rule: str, decode: Callable[[bytes], bytes], start: float = 0.0) -> None:
        super().__init__(rule, start)
        self._decode = decode

    def feed(self, chunk: bytes) -> bool | None:
        try:
            decoded = self._decode(chunk)
        except Exception:  # corrupt or truncated: not ours to report
            return None
        return super().feed(decoded)


class _Deflate:
    """HTTP's "deflate": zlib-wrapped as the RFC says, or raw deflate as some servers
    send it. Decided on the zlib header (two bytes), however the body was cut: the
    bytes seen until then are kept, to start over as raw deflate."""

    __slots__ = ("_inner", "_seen")

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._seen: bytes | None = b""  # None once the format is decided

    def __call__(self, data: bytes) -> bytes:
        seen = self._seen
        if seen is None:
            return self._inner.decompress(data)
        seen += data
        try:
            decoded = self._inner.decompress(data)
        except zlib.error:
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
            self._seen = None
            return self._inner.decompress(seen)
        self._seen = None if len(seen) >= 2 else seen
        return decoded


def _gzip() -> Callable[[bytes], bytes]:
    return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress


def _brotli() -> Callable[[bytes], bytes] | None:
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        try:
            import brotlicffi as brotli  # type: ignore[import-not-found]
        except ImportError:
            return None
    decompressor = brotli.Decompressor()
    process = getattr(decompressor, "process", None) or decompressor.decompress
    return process  # type: ignore[no-any-return]


_DECODERS: dict[str, Callable[[], Callable[[bytes], bytes] | None]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _Deflate,
    "br": _brotli,
}


def decoder_for(encoding: str) -> Callable[[bytes], bytes] | None:
    """A function decoding a body sent with this ``content-encoding`` header value,
    chunk by chunk; ``None`` when there is nothing to decode or no decoder for it
    (``br`` needs ``brotli`` or ``brotlicffi`` installed)."""
    steps: list[Callable[[bytes], bytes]] = []
    # Codings are listed in the order they were applied: undo the last one first.
    for coding in reversed(encoding.lower().split(",")):
        coding = coding.strip()
        if coding in ("", "identity"):
            continue
        make = _DECODERS.get(coding)
        step = make() if make is not None else None
        if step is None:
            return None
        steps.append(step)
    if len(steps) <= 1:
        return steps[0] if steps else None

    def chain(data: bytes) -> bytes:
        for step in steps:
            data = step(data)
        return data

    return chain
