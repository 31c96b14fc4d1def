"""The Anthropic Messages API's shapes, as the mock routes and the local server send them.

Only what the SDK needs to parse a reply: a ``Message`` as JSON, and the same message
as the server-sent events of a stream (``message_start``, ``content_block_start``,
``ping``, ``content_block_delta`` per token, ``content_block_stop``, ``message_delta``,
``message_stop``).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

__all__ = ["DEFAULT_REPLY", "message_events", "message_json", "request_wants_stream"]

DEFAULT_REPLY = "Hello from pytest-ttfb."
_ids = itertools.count(1)


def request_wants_stream(body: bytes) -> bool:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("stream") is True


def _model(body: bytes) -> str:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return "claude-mock"
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) else "claude-mock"


def _tokens(text: str) -> list[str]:
    """Split a reply into word-sized tokens, keeping the spaces."""
    words = text.split(" ")
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


def _message(body: bytes, text: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"msg_ttfb_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": _model(body),
        "content": content,
        "stop_reason": "end_turn" if content else None,
        "stop_sequence": None,
        "usage": {"input_tokens": 8, "output_tokens": len(_tokens(text)) if content else 0},
    }


def message_json(body: bytes, text: str = DEFAULT_REPLY) -> bytes:
    """A complete ``Message`` answering the request ``body``."""
    return json.dumps(_message(body, text, [{"type": "text", "text": text}])).encode()


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def message_events(body: bytes, text: str = DEFAULT_REPLY) -> list[bytes]:
    """The stream of events for the same reply: everything before the first
    ``content_block_delta`` first, then one event per token, then the closing events."""
    start = _message(body, text, [])
    tokens = _tokens(text)
    events = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _event("ping", {"type": "ping"}),
    ]
    events += [
        _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": token},
            },
        )
        for token in tokens
    ]
    events += [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(tokens)},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return events
