"""replies: what a mocked model answers, in one form for every provider.

A reply is text, or a list of content blocks in the Anthropic Messages shape:
``{"type": "text", "text": ...}``, ``{"type": "thinking", "thinking": ...}`` and
``{"type": "tool_use", "name": ..., "input": {...}}`` (``id`` optional). Each provider
module renders the blocks as its API does (OpenAI: tool calls, no thinking).

A token, for pacing and for ``usage``, is one delta event of a stream: a word of text
or thinking (with its leading space), a space-separated piece of a tool's JSON input.
So a mocked stream's ``output_tokens`` is the number of content deltas it sends.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BLOCK_TYPES", "Block", "parse_replies", "parse_reply", "split_tokens"]

BLOCK_TYPES = ("text", "thinking", "tool_use")
THINKING_SIGNATURE = "ttfb-mock-signature"
_tool_ids = itertools.count(1)


def split_tokens(text: str) -> list[str]:
    """``text`` cut into word-sized tokens, each keeping the space before it, so the
    tokens joined are the text again (``""`` is one empty token)."""
    words = text.split(" ")
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]


@dataclass(frozen=True, eq=False)
class Block:
    """One content block of a reply. ``text`` holds a text or thinking block's text;
    ``name``, ``input`` and ``id`` a tool call's (``id`` empty: one is made per reply
    sent, in the provider's own style)."""

    type: str
    text: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def arguments(self) -> str:
        """A tool call's input as the JSON text the APIs stream."""
        return json.dumps(self.input)

    def tokens(self) -> list[str]:
        """The pieces a stream sends this block in, one delta each."""
        return split_tokens(self.arguments if self.type == "tool_use" else self.text)

    def tool_id(self, prefix: str) -> str:
        return self.id or f"{prefix}{next(_tool_ids):06d}"


def output_tokens(blocks: Sequence[Block]) -> int:
    return sum(len(block.tokens()) for block in blocks)


def parse_reply(value: Any, where: str, *, kinds: Sequence[str] = BLOCK_TYPES) -> tuple[Block, ...]:
    """One reply (text, or a list of content blocks) as blocks; a ``ValueError`` naming
    ``where`` and the offending block otherwise. ``kinds``: the block types accepted."""
    if isinstance(value, str):
        return (Block("text", text=value),)
    if isinstance(value, dict) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            f"{where}: expected text or a non-empty list of content blocks "
            f"({', '.join(kinds)}), got {value!r}"
        )
    return tuple(_block(item, f"{where}[{index}]", kinds) for index, item in enumerate(value))


def parse_replies(
    value: Any, where: str, *, kinds: Sequence[str] = BLOCK_TYPES
) -> list[tuple[Block, ...]]:
    """A non-empty list of replies (each text or a list of blocks)."""
    if isinstance(value, str | dict) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            f"{where}: expected a non-empty list of replies (each text or a list of "
            f"content blocks), got {value!r}"
        )
    return [parse_reply(item, f"{where}[{index}]", kinds=kinds) for index, item in enumerate(value)]


def _block(item: Any, where: str, kinds: Sequence[str]) -> Block:
    kind = item.get("type") if isinstance(item, dict) else None
    if kind not in kinds:
        raise ValueError(
            f"{where}: expected a content block, a dict whose type is one of "
            f"{', '.join(kinds)}, got {item!r}"
        )
    assert isinstance(item, dict)

    def text_field(name: str) -> str:
        value = item.get(name)
        if not isinstance(value, str):
            raise ValueError(f"{where}: a {kind} block needs {name!r} as text, got {value!r}")
        return value

    if kind == "text":
        return Block("text", text=text_field("text"))
    if kind == "thinking":
        return Block("thinking", text=text_field("thinking"))
    name, tool_input, tool_id = item.get("name"), item.get("input", {}), item.get("id", "")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a tool_use block needs a 'name', got {name!r}")
    if not isinstance(tool_input, dict):
        raise ValueError(f"{where}: a tool_use block's 'input' must be a dict, got {tool_input!r}")
    if not isinstance(tool_id, str):
        raise ValueError(f"{where}: a tool_use block's 'id' must be text, got {tool_id!r}")
    try:
        json.dumps(tool_input)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: a tool_use block's 'input' is not JSON: {error}") from None
    return Block("tool_use", name=name, input=tool_input, id=tool_id)
