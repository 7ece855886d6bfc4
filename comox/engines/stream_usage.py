"""The usage chunk an engine does not send, added by the gateway.

Engines that ignore `stream_options.include_usage` (TGI) end a stream without token counts,
yet limits, budgets, usage records and metrics need them, and a client that asked for the
usage chunk expects one. For such engines the adapter keeps the option out of the request
and reads the answer through `CountedUsage`: completion tokens are the stream's events that
carry text (these engines send one token per event), prompt tokens an estimate from the
prompt's characters
(about four per token), and the chunk is written where OpenAI puts it, just before
`[DONE]`. It says `"estimated": true`. An engine that does send usage after all is believed:
nothing is added.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

_DONE = b"data: [DONE]"
_TEXT = (b'"content":"', b'"text":"', b'"content": "', b'"text": "')
"""A chat delta's or a completion choice's text; raw quotes cannot occur inside a JSON string."""
_EMPTY = (b'"content":""', b'"text":""', b'"content": ""', b'"text": ""')
_USAGE = (b'"usage":{', b'"usage": {')
CHARS_PER_TOKEN = 4
"""Rough average for English text with common tokenizers; the estimate is labelled as such."""


def estimate_prompt_tokens(payload: dict[str, Any]) -> int:
    """Prompt tokens from characters: message texts (chat) or the prompt (completions)."""
    chars = 0
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
            chars += 4 * CHARS_PER_TOKEN  # role and separators: a few tokens per message
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        chars += len(prompt)
    elif isinstance(prompt, list):
        chars += sum(len(p) if isinstance(p, str) else CHARS_PER_TOKEN for p in prompt)
    return max(1, chars // CHARS_PER_TOKEN)


class CountedUsage:
    """An engine codec (see comox.api.call.AnswerFilter) for streams without a usage chunk."""

    __slots__ = ("api", "done", "events", "model", "prompt_tokens", "reported")

    def __init__(self, api: str, model: str, prompt_tokens: int) -> None:
        self.api = api
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.events = 0
        self.reported = False
        """The engine sent a usage object itself."""
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if not self.reported and (_USAGE[0] in data or _USAGE[1] in data):
            self.reported = True
        self.events += sum(data.count(m) for m in _TEXT) - sum(data.count(m) for m in _EMPTY)
        at = data.find(_DONE)
        if at == -1:
            return data
        self.done = True  # held back: the usage chunk goes before it
        return data[:at]

    def flush(self) -> bytes:
        out = b"" if self.reported else b"data: " + orjson.dumps(self.chunk()) + b"\n\n"
        return out + _DONE + b"\n\n" if self.done else out

    def chunk(self) -> dict[str, Any]:
        usage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.events,
            "total_tokens": self.prompt_tokens + self.events,
            "estimated": True,
        }
        chat = self.api != "completions"
        return {
            "id": ("chatcmpl-" if chat else "cmpl-") + "comox-usage",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [],
            "usage": usage,
        }

    def whole(self, body: bytes) -> bytes:
        return body  # whole answers carry their usage
