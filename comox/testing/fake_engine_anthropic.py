"""Anthropic Messages wire format for the fake engine (`--api anthropic`): plan, render, errors.

Written from Anthropic's API reference, independently of the gateway's translation code, so
tests of the translation are not circular; tests check its output against the anthropic
SDK's own types. Deterministic like the OpenAI mode: the answer is "echo: " + the last user
turn's text (or its tool results' text), word by word. When tools are offered and the last
user turn holds no tool result, the first tool is called with its first property set to
the user text. With `thinking: {"type": "enabled"}` a thinking block comes first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from comox.testing.fake_engine_openai import ApiError, Clock, word_count

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


def error_body(status: int, message: str) -> bytes:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def error_headers(status: int) -> list[tuple[str, str]]:
    return [("retry-after", "1")] if status == 429 else []


def stream_error(status: int, message: str) -> bytes:
    return b"event: error\ndata: " + error_body(status, message) + b"\n\n"


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **payload}) + b"\n\n"


def _text_of(content: Any) -> tuple[str, bool]:
    """The text of a user turn, and whether it held tool results (their text is used then)."""
    if isinstance(content, str):
        return content, False
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    blocks = results or content
    texts = []
    for block in blocks:
        inner = block.get("content") if block.get("type") == "tool_result" else None
        if isinstance(inner, str):
            texts.append(inner)
        elif isinstance(inner, list):
            texts += [b.get("text", "") for b in inner if b.get("type") == "text"]
        elif block.get("type") == "text":
            texts.append(block.get("text", ""))
    return " ".join(texts), bool(results)


@dataclass(frozen=True)
class MessagePlan:
    id: str
    model: str
    thinking: tuple[str, ...]
    tokens: tuple[str, ...]
    tool: dict[str, Any] | None
    tool_json: tuple[str, ...]
    stop_reason: str
    stop_sequence: str | None
    prompt_tokens: int
    stream: bool
    choices: tuple = field(default=())

    @property
    def completion_tokens(self) -> int:
        return len(self.thinking) + len(self.tokens) + (1 if self.tool else 0)

    @property
    def steps(self) -> int:
        return len(self.thinking) + len(self.tokens) + len(self.tool_json)

    def usage(self, final: bool) -> dict[str, Any]:
        return {
            "input_tokens": self.prompt_tokens,
            "output_tokens": self.completion_tokens if final else 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    def content(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.thinking:
            blocks.append(
                {"type": "thinking", "thinking": "".join(self.thinking), "signature": "fake-signature"}
            )
        if self.tokens:
            blocks.append({"type": "text", "text": "".join(self.tokens)})
        if self.tool is not None:
            blocks.append(self.tool)
        return blocks

    def body(self) -> bytes:
        return orjson.dumps(self._message(self.content(), self.stop_reason, self.stop_sequence, final=True))

    def _message(self, content: list, stop: str | None, seq: str | None, final: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": seq,
            "usage": self.usage(final),
        }

    def events(self) -> Iterator[tuple[bool, bytes]]:
        """Anthropic's stream: message_start, ping, the blocks, message_delta, message_stop."""
        yield True, _event("message_start", {"message": self._message([], None, None, final=False)})
        yield False, _event("ping", {})
        index = 0
        if self.thinking:
            start = {"type": "thinking", "thinking": "", "signature": ""}
            yield False, _event("content_block_start", {"index": index, "content_block": start})
            for token in self.thinking:
                yield (
                    True,
                    _event(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "thinking_delta", "thinking": token}},
                    ),
                )
            signature = {"type": "signature_delta", "signature": "fake-signature"}
            yield False, _event("content_block_delta", {"index": index, "delta": signature})
            yield False, _event("content_block_stop", {"index": index})
            index += 1
        if self.tokens:
            yield (
                False,
                _event(
                    "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}
                ),
            )
            for token in self.tokens:
                yield (
                    True,
                    _event(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": token}},
                    ),
                )
            yield False, _event("content_block_stop", {"index": index})
            index += 1
        if self.tool is not None:
            start = {**self.tool, "input": {}}
            yield False, _event("content_block_start", {"index": index, "content_block": start})
            for part in self.tool_json:
                delta = {"type": "input_json_delta", "partial_json": part}
                yield True, _event("content_block_delta", {"index": index, "delta": delta})
            yield False, _event("content_block_stop", {"index": index})
        delta = {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence}
        yield (
            False,
            _event("message_delta", {"delta": delta, "usage": {"output_tokens": self.completion_tokens}}),
        )
        yield False, _event("message_stop", {})


def plan_messages(
    body: dict[str, Any], models: tuple[str, ...], forced: int | None, clock: Clock
) -> MessagePlan:
    model = body.get("model")
    if not isinstance(model, str):
        raise ApiError(400, "model: Field required", "model")
    if model not in models:
        raise ApiError(404, f"model: {model}", "model")
    limit = body.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ApiError(400, "max_tokens: Field required", "max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages: Field required", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ApiError(400, f"messages.{i}.role: Input should be 'user' or 'assistant'", "messages")
    if messages[-1]["role"] != "user":
        raise ApiError(400, "messages: the last message must have role 'user'", "messages")
    text, answered = _text_of(messages[-1].get("content"))
    prompt = sum(word_count(_text_of(m.get("content"))[0]) for m in messages)
    system = body.get("system")
    prompt += word_count(
        system if isinstance(system, str) else " ".join(b.get("text", "") for b in system or ())
    )
    tokens = ["echo:", *(" " + w for w in text.split())]
    if forced is not None:
        tokens = tokens[:forced] + [" tok"] * (forced - len(tokens))
    stop, sequence = "end_turn", None
    if len(tokens) > limit:
        tokens, stop = tokens[:limit], "max_tokens"
    else:
        tokens, stop, sequence = _stop_at(tokens, body.get("stop_sequences") or ())
    tool, tool_json = None, ()
    tools = body.get("tools") or []
    if tools and not answered and (body.get("tool_choice") or {}).get("type") != "none":
        properties = (tools[0].get("input_schema") or {}).get("properties") or {}
        arguments = {next(iter(properties)): text} if properties else {}
        tool = {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": tools[0]["name"],
            "input": arguments,
        }
        encoded = orjson.dumps(arguments).decode()
        tool_json = (encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :])
        tokens, stop, sequence = [], "tool_use", None
    thinking = ("Let", " me", " think.") if (body.get("thinking") or {}).get("type") == "enabled" else ()
    return MessagePlan(
        id=f"msg_{uuid.uuid4().hex[:24]}",
        model=model,
        thinking=thinking,
        tokens=tuple(tokens),
        tool=tool,
        tool_json=tool_json,
        stop_reason=stop,
        stop_sequence=sequence,
        prompt_tokens=prompt,
        stream=body.get("stream") is True,
    )


def _stop_at(tokens: list[str], sequences: Any) -> tuple[list[str], str, str | None]:
    seen = ""
    for i, token in enumerate(tokens):
        seen += token
        for sequence in sequences:
            if sequence and sequence in seen:
                return tokens[:i], "stop_sequence", sequence
    return tokens, "end_turn", None
