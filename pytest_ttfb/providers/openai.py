"""The OpenAI APIs' shapes, as the mock routes send them: Chat Completions and Responses.

Only what the SDK needs to parse a reply (checked against the ``openai`` SDK's types,
1.x to 3.x):

- Chat Completions: a ``chat.completion`` as JSON; as a stream, ``chat.completion.chunk``
  events (``data:`` lines) ending with ``data: [DONE]``, and a final usage chunk (no
  choices) when the request sets ``stream_options.include_usage``. Tool calls are
  ``tool_calls`` with JSON ``arguments``; ``finish_reason`` is ``tool_calls`` or ``stop``.
- Responses: a ``response`` object as JSON; as a stream, typed events
  (``response.created``, ``response.in_progress``, ``response.output_item.added``,
  ``response.content_part.added``, ``response.output_text.delta``...,
  ``response.function_call_arguments.delta``..., ``response.completed`` with usage).
- Error bodies ``{"error": {"message", "type", "param", "code"}}``.

A reply is given as blocks (``replies``): text and ``tool_use`` (a tool call here);
thinking blocks are Anthropic's only and refused by the OpenAI routes.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from .options import sdk_client_options
from .replies import Block, output_tokens

__all__ = [
    "BLOCK_TYPES",
    "DEFAULT_REPLY",
    "ChatReply",
    "ResponsesReply",
    "client_options",
    "error_json",
    "request_wants_stream",
]

DEFAULT_REPLY = "Hello from pytest-ttfb."
BLOCK_TYPES = ("text", "tool_use")
INPUT_TOKENS = 8
_ids = itertools.count(1)

# (type, code, message) of the API's errors by status, as OpenAI answers them.
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist"),
    409: ("invalid_request_error", None, "Conflict"),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_json(status: int) -> bytes:
    """The body OpenAI sends with ``status``."""
    kind, code, message = ERRORS.get(status, ("server_error", None, f"Error {status}"))
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}
    ).encode()


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def request_wants_stream(body: bytes) -> bool:
    return _payload(body).get("stream") is True


def _model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) else "gpt-mock"


def _data(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


@dataclass(frozen=True)
class ChatReply:
    """One reply of ``POST /v1/chat/completions``."""

    blocks: tuple[Block, ...]

    @property
    def _text(self) -> str | None:
        texts = [block.text for block in self.blocks if block.type == "text"]
        return "".join(texts) if texts else None

    @property
    def _tools(self) -> list[Block]:
        return [block for block in self.blocks if block.type == "tool_use"]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self._tools else "stop"

    def _usage(self) -> dict[str, int]:
        output = output_tokens(self.blocks)
        return {
            "prompt_tokens": INPUT_TOKENS,
            "completion_tokens": output,
            "total_tokens": INPUT_TOKENS + output,
        }

    def _base(self, payload: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-ttfb{next(_ids):06d}",
            "object": kind,
            "created": int(time.time()),
            "model": _model(payload),
            "system_fingerprint": None,
        }

    def json(self, body: bytes) -> bytes:
        """The complete ``chat.completion`` answering the request ``body``."""
        message: dict[str, Any] = {"role": "assistant", "content": self._text, "refusal": None}
        if self._tools:
            message["tool_calls"] = [
                {
                    "id": tool.tool_id("call_ttfb_"),
                    "type": "function",
                    "function": {"name": tool.name, "arguments": tool.arguments},
                }
                for tool in self._tools
            ]
        completion = self._base(_payload(body), "chat.completion")
        completion["choices"] = [
            {
                "index": 0,
                "message": message,
                "finish_reason": self.finish_reason,
                "logprobs": None,
            }
        ]
        completion["usage"] = self._usage()
        return json.dumps(completion).encode()

    def events(self, body: bytes) -> list[tuple[str, bytes]]:
        """The chunks of the same reply, tagged ``head``, ``token`` (a chunk with content
        or a piece of a tool call: one per output token) or ``tail``."""
        payload = _payload(body)
        options = payload.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        base = self._base(payload, "chat.completion.chunk")
        if with_usage:
            base["usage"] = None  # as the API does: every chunk but the last has no usage

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            return _data({**base, "choices": [choice]})

        events = [("head", chunk({"role": "assistant", "content": "", "refusal": None}))]
        tool_index = 0
        for block in self.blocks:
            tokens = block.tokens()
            if block.type == "text":
                events += [("token", chunk({"content": token})) for token in tokens]
                continue
            # The call's first chunk names it and carries the first piece of its input,
            # so every chunk with tool_calls is an output token.
            call: dict[str, Any] = {
                "index": tool_index,
                "id": block.tool_id("call_ttfb_"),
                "type": "function",
                "function": {"name": block.name, "arguments": tokens[0]},
            }
            events.append(("token", chunk({"tool_calls": [call]})))
            events += [
                (
                    "token",
                    chunk({"tool_calls": [{"index": tool_index, "function": {"arguments": t}}]}),
                )
                for t in tokens[1:]
            ]
            tool_index += 1
        events.append(("tail", chunk({}, self.finish_reason)))
        if with_usage:
            events.append(("tail", _data({**base, "choices": [], "usage": self._usage()})))
        events.append(("tail", _data("[DONE]")))
        return events


@dataclass(frozen=True)
class ResponsesReply:
    """One reply of ``POST /v1/responses``: each text block is an output message, each
    tool call a ``function_call`` output item."""

    blocks: tuple[Block, ...]

    def _usage(self) -> dict[str, Any]:
        output = output_tokens(self.blocks)
        return {
            "input_tokens": INPUT_TOKENS,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": INPUT_TOKENS + output,
        }

    def _items(self) -> list[tuple[Block, dict[str, Any]]]:
        """Each block with its complete output item (ids made once, for every event)."""
        items = []
        for block in self.blocks:
            number = next(_ids)
            if block.type == "text":
                item: dict[str, Any] = {
                    "id": f"msg_ttfb{number:06d}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [_text_part(block.text)],
                }
            else:
                item = {
                    "id": f"fc_ttfb{number:06d}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": block.tool_id("call_ttfb_"),
                    "name": block.name,
                    "arguments": block.arguments,
                }
            items.append((block, item))
        return items

    def _response(
        self, payload: dict[str, Any], response_id: str, created: int, output: list[Any] | None
    ) -> dict[str, Any]:
        """The ``response`` object; ``output`` None: still in progress (no usage yet)."""
        tools = payload.get("tools")
        return {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": "in_progress" if output is None else "completed",
            "model": _model(payload),
            "output": output or [],
            "parallel_tool_calls": True,
            "tool_choice": payload.get("tool_choice", "auto"),
            "tools": tools if isinstance(tools, list) else [],
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "temperature": 1.0,
            "top_p": 1.0,
            "text": {"format": {"type": "text"}},
            "usage": None if output is None else self._usage(),
        }

    def json(self, body: bytes) -> bytes:
        """The complete ``response`` answering the request ``body``."""
        output = [item for _, item in self._items()]
        response_id = f"resp_ttfb{next(_ids):06d}"
        return json.dumps(
            self._response(_payload(body), response_id, int(time.time()), output)
        ).encode()

    def events(self, body: bytes) -> list[tuple[str, bytes]]:
        """The typed events of the same reply, tagged ``head``, ``token`` (an
        ``output_text`` or ``function_call_arguments`` delta) or ``tail``."""
        payload = _payload(body)
        response_id, created = f"resp_ttfb{next(_ids):06d}", int(time.time())
        sequence = itertools.count()
        events: list[tuple[str, bytes]] = []

        def emit(role: str, kind: str, **fields: Any) -> None:
            data = {"type": kind, "sequence_number": next(sequence), **fields}
            events.append((role, _data(data, kind)))

        in_progress = self._response(payload, response_id, created, None)
        emit("head", "response.created", response=in_progress)
        emit("head", "response.in_progress", response=in_progress)
        items = self._items()
        for index, (block, item) in enumerate(items):
            role = "head" if index == 0 else "tail"
            where = {"item_id": item["id"], "output_index": index}
            if block.type == "text":
                emit(
                    role,
                    "response.output_item.added",
                    output_index=index,
                    item={**item, "status": "in_progress", "content": []},
                )
                emit(
                    role,
                    "response.content_part.added",
                    **where,
                    content_index=0,
                    part=_text_part(""),
                )
                for token in block.tokens():
                    emit(
                        "token",
                        "response.output_text.delta",
                        **where,
                        content_index=0,
                        delta=token,
                        logprobs=[],
                    )
                emit(
                    "tail",
                    "response.output_text.done",
                    **where,
                    content_index=0,
                    text=block.text,
                    logprobs=[],
                )
                emit(
                    "tail",
                    "response.content_part.done",
                    **where,
                    content_index=0,
                    part=_text_part(block.text),
                )
            else:
                emit(
                    role,
                    "response.output_item.added",
                    output_index=index,
                    item={**item, "status": "in_progress", "arguments": ""},
                )
                for token in block.tokens():
                    emit("token", "response.function_call_arguments.delta", **where, delta=token)
                emit(
                    "tail",
                    "response.function_call_arguments.done",
                    **where,
                    name=block.name,
                    arguments=block.arguments,
                )
            emit("tail", "response.output_item.done", output_index=index, item=item)
        done = self._response(payload, response_id, created, [item for _, item in items])
        emit("tail", "response.completed", response=done)
        return events


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def client_options(
    mode: str, base_url: str | None, environ: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """Keyword arguments for the openai SDK's client in ``mode``, or a reason to skip
    (``OPENAI_API_KEY`` unset in live mode); see ``options.sdk_client_options``."""
    return sdk_client_options(
        mode, base_url, environ, key_variable="OPENAI_API_KEY", api_name="the OpenAI API"
    )
