"""The Anthropic Messages API's shapes, as the mock routes and the local server send them.

Only what the SDK needs to parse a reply: a ``Message`` as JSON, the same message as
the server-sent events of a stream (``message_start``, ``content_block_start``,
``ping``, ``content_block_delta`` per token, ``content_block_stop``, ``message_delta``,
``message_stop``): text, thinking and tool calls (``replies``), and the API's error
bodies.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from .options import sdk_client_options
from .replies import THINKING_SIGNATURE, Block, output_tokens

__all__ = ["DEFAULT_REPLY", "Reply", "client_options", "error_json", "request_wants_stream"]

DEFAULT_REPLY = "Hello from pytest-ttfb."
_ids = itertools.count(1)

# The API's error type for each status it uses (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ERROR_MESSAGES = {429: "Rate limited", 500: "Internal server error", 529: "Overloaded"}


def request_wants_stream(body: bytes) -> bool:
    payload = _payload(body)
    return payload.get("stream") is True


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def error_json(status: int) -> bytes:
    kind = ERROR_TYPES.get(status, "api_error")
    message = _ERROR_MESSAGES.get(status, kind.replace("_", " "))
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass(frozen=True)
class Reply:
    """What the mock answers: ``text``, after an optional ``thinking`` block; or
    ``blocks`` (see ``replies``), which then stand for the whole reply."""

    text: str = DEFAULT_REPLY
    thinking: str | None = None
    blocks: tuple[Block, ...] = ()

    def content(self) -> tuple[Block, ...]:
        if self.blocks:
            return self.blocks
        head = (Block("thinking", text=self.thinking),) if self.thinking is not None else ()
        return (*head, Block("text", text=self.text))

    @property
    def stop_reason(self) -> str:
        """``tool_use`` when the reply calls a tool, as the API says, else ``end_turn``."""
        return "tool_use" if any(b.type == "tool_use" for b in self.content()) else "end_turn"

    def _message(self, body: bytes, content: list[dict[str, Any]]) -> dict[str, Any]:
        model = _payload(body).get("model")
        return {
            "id": f"msg_ttfb_{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": model if isinstance(model, str) else "claude-mock",
            "content": content,
            "stop_reason": self.stop_reason if content else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 8,
                "output_tokens": output_tokens(self.content()) if content else 0,
            },
        }

    def json(self, body: bytes) -> bytes:
        """The complete ``Message`` answering the request ``body``."""
        content = [_whole(block, _start(block)) for block in self.content()]
        return json.dumps(self._message(body, content)).encode()

    def events(self, body: bytes) -> list[tuple[str, bytes]]:
        """The stream of events for the same reply, each tagged with its pacing role:
        ``"head"`` (before any token), ``"token"`` (a ``content_block_delta``) or
        ``"tail"``. A tool call streams as the API streams it: its block starts with an
        empty ``input``, then ``input_json_delta`` events carry the JSON in pieces."""
        events: list[tuple[str, bytes]] = [
            (
                "head",
                _event(
                    "message_start", {"type": "message_start", "message": self._message(body, [])}
                ),
            ),
        ]
        for index, block in enumerate(self.content()):
            start = _start(block)
            if block.type == "thinking":
                deltas = [{"type": "thinking_delta", "thinking": t} for t in block.tokens()]
                deltas.append({"type": "signature_delta", "signature": THINKING_SIGNATURE})
            elif block.type == "tool_use":
                deltas = [{"type": "input_json_delta", "partial_json": t} for t in block.tokens()]
            else:
                deltas = [{"type": "text_delta", "text": t} for t in block.tokens()]
            events.append(
                (
                    "head" if index == 0 else "tail",
                    _event(
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": start},
                    ),
                )
            )
            if index == 0:
                events.append(("head", _event("ping", {"type": "ping"})))
            events += [
                (
                    "token",
                    _event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    ),
                )
                for delta in deltas
            ]
            events.append(
                (
                    "tail",
                    _event("content_block_stop", {"type": "content_block_stop", "index": index}),
                )
            )
        events += [
            (
                "tail",
                _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                        "usage": {"output_tokens": output_tokens(self.content())},
                    },
                ),
            ),
            ("tail", _event("message_stop", {"type": "message_stop"})),
        ]
        return events


def _start(block: Block) -> dict[str, Any]:
    """A block as its ``content_block_start`` event opens it (empty)."""
    if block.type == "thinking":
        return {"type": "thinking", "thinking": ""}
    if block.type == "tool_use":
        return {
            "type": "tool_use",
            "id": block.tool_id("toolu_ttfb_"),
            "name": block.name,
            "input": {},
        }
    return {"type": "text", "text": ""}


def _whole(block: Block, start: dict[str, Any]) -> dict[str, Any]:
    """A block as a complete ``Message`` holds it (``start`` carries its tool id)."""
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": THINKING_SIGNATURE}
    if block.type == "tool_use":
        return {**start, "input": block.input}
    return {"type": "text", "text": block.text}


def client_options(
    mode: str, base_url: str | None, environ: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """Keyword arguments for the anthropic SDK's client in ``mode``, or a reason to skip
    (``ANTHROPIC_API_KEY`` unset in live mode); see ``options.sdk_client_options``."""
    return sdk_client_options(
        mode, base_url, environ, key_variable="ANTHROPIC_API_KEY", api_name="the Anthropic API"
    )
