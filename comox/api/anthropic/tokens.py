"""An estimate of a Messages request's input tokens, for /v1/messages/count_tokens.

The gateway has no tokenizer for arbitrary engine models offline, so it estimates: one token
per 4 characters of text (system prompt, text blocks, tool results, tool inputs and tool
definitions as compact JSON), rounded up, plus 4 tokens of framing per message and 1,600 per
image (Anthropic's upper bound for one image). Typical English text is 3.5-4.5 characters per
token with current tokenizers, so the estimate is within about 20 % for prose; code and
non-Latin scripts tokenize denser and are underestimated.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
PER_IMAGE = 1600


def estimate(payload: dict) -> int:
    chars = 0
    images = 0
    system = payload.get("system")
    if isinstance(system, str):
        chars += len(system)
    elif isinstance(system, list):
        chars += sum(len(b.get("text", "")) for b in system if isinstance(b, dict))
    for tool in payload.get("tools") or ():
        chars += len(orjson.dumps(tool))
    for message in payload["messages"]:
        c, i = _content(message.get("content"))
        chars += c
        images += i
    return math.ceil(chars / CHARS_PER_TOKEN) + PER_MESSAGE * len(payload["messages"]) + PER_IMAGE * images


def _content(content: Any) -> tuple[int, int]:
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            chars += len(block.get("text", ""))
        elif kind == "image":
            images += 1
        elif kind == "tool_use":
            chars += len(block.get("name", "")) + len(orjson.dumps(block.get("input") or {}))
        elif kind == "tool_result":
            c, i = _content(block.get("content"))
            chars += c
            images += i
        elif kind == "thinking":
            chars += len(block.get("thinking", ""))
    return chars, images
