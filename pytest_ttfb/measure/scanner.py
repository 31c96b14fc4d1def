"""scanner: the first token of a stream of server-sent events, found on the fly.

Which event counts is the session's first-token rule (``FIRST_TOKEN_RULES``); the
scanner holds only the event being received, never the stream.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "EVENT_FIELDS",
    "FIELD_INITIALS",
    "FIRST_TOKEN_RULES",
    "DecodingScanner",
    "FirstTokenScanner",
    "decoder_for",
    "first_token_rule",
    "use_first_token_rule",
]

# A body is a stream of server-sent events when its first line is an SSE field.
EVENT_FIELDS = (b"event:", b"data:", b"id:", b"retry:", b":")
_SNIFF_BYTES = max(len(field) for field in EVENT_FIELDS)
FIELD_INITIALS = b"edir:"

FIRST_TOKEN_RULES = {
    "delta": "the first content_block_delta event, whatever it carries (as the SDK's "
    "gen_ai.response.time_to_first_chunk)",
    "visible": "the first content_block_delta that is not thinking (text, tool input)",
    "openai": "the first chunk with content: choices[0].delta.content or tool_calls "
    "(Chat Completions), or a response.output_text.delta event (Responses)",
}
DEFAULT_RULE = "delta"
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_THINKING = ("thinking_delta", "signature_delta")


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
    except ValueError:
        return name, None


def _is_first_token(rule: str, event: bytes) -> bool:
    if rule == "openai":
        name, data = _event_data(event)
        if name == "response.output_text.delta":
            return True
        choices = data.get("choices") if isinstance(data, dict) else None
        delta = choices[0].get("delta") if choices and isinstance(choices[0], dict) else None
        return isinstance(delta, dict) and bool(delta.get("content") or delta.get("tool_calls"))
    if b"content_block_delta" not in event:  # cheap, before parsing
        return False
    if rule == "delta":
        return True
    _, data = _event_data(event)
    delta = data.get("delta") if isinstance(data, dict) else None
    return isinstance(delta, dict) and delta.get("type") not in _THINKING


class FirstTokenScanner:
    """Watches a body for its first token, event by event, across chunk boundaries,
    without buffering the stream or delaying the caller.

    It first decides whether the body is a stream of server-sent events at all, from
    its first bytes (an SSE field such as ``event:`` or ``data:``; JSON starts with
    ``{``); reading the content-type header instead would cost more than the rest of
    the hot path. Then it holds only the event being received, until it is complete.
    """

    __slots__ = ("_events", "_pending", "_rule")

    def __init__(self, rule: str) -> None:
        self._rule = rule
        self._events: bool | None = None  # undecided until enough bytes have come
        self._pending = b""

    def feed(self, chunk: bytes) -> bool | None:
        """True: the first token is in this chunk. False: not yet. None: the body is
        not an event stream, stop feeding."""
        pending = self._pending + chunk
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
        start = 0
        for end in _EVENT_END.finditer(pending):
            if _is_first_token(self._rule, pending[start : end.start()]):
                return True
            start = end.end()
        self._pending = pending[start:]
        return False

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

    def __init__(self, rule: str, decode: Callable[[bytes], bytes]) -> None:
        super().__init__(rule)
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
