"""Anthropic Messages answers -> OpenAI chat answers, streamed or whole (Anthropic engines).

Events map to chunks: message_start -> the role chunk; text_delta -> `content`;
thinking_delta -> `reasoning_content` (vLLM's name, which OpenAI SDK users already read);
tool_use starts and input_json_delta -> `tool_calls` deltas numbered in order of appearance;
message_delta -> the finish chunk; message_stop -> the usage chunk (when asked for) and
`[DONE]`. An `error` event becomes `data: {"error": ...}`, the form the OpenAI SDK raises on.
"""

from __future__ import annotations

import time

import orjson

from comox.translate import anthropic_to_openai, vocab
from comox.translate.sse import DONE, Event, Transcoder, encode

ERROR_TYPES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 503,
}


class AnthropicToChat(Transcoder):
    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.model = model
        self.include_usage = include_usage
        self.id = "chatcmpl-anthropic"
        self.created = int(time.time())
        self.tools: dict[int, int] = {}
        """Anthropic block index -> OpenAI tool_call index."""
        self.usage: dict = {}

    def _chunk(self, delta: dict | None, finish: str | None = None, **extra) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return encode(None, chunk)

    def event(self, event: Event, out: list[bytes]) -> None:
        data = event.json()
        if data is None:
            return
        kind = data.get("type") or event.name
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = anthropic_to_openai.chat_id(message.get("id"))
            self.usage.update(message.get("usage") or {})
            out.append(self._chunk({"role": "assistant", "content": ""}))
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self.tools[data.get("index", 0)] = len(self.tools)
                call = {
                    "index": index,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                out.append(self._chunk({"tool_calls": [call]}))
            elif block.get("type") == "text" and block.get("text"):
                out.append(self._chunk({"content": block["text"]}))
        elif kind == "content_block_delta":
            self._delta(data, out)
        elif kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            delta = data.get("delta") or {}
            extra = {}
            if delta.get("stop_sequence") is not None:
                extra["stop_reason"] = delta["stop_sequence"]
            chunk = {
                "index": 0,
                "delta": {},
                "logprobs": None,
                "finish_reason": vocab.openai_stop(delta.get("stop_reason")),
            }
            chunk.update(extra)
            out.append(
                encode(
                    None,
                    {
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [chunk],
                    },
                )
            )
        elif kind == "message_stop":
            self.finish(out)
        elif kind == "error":
            self.failed = True
            error = data.get("error") or {}
            out.append(encode(None, {"error": openai_error(error)}))

    def _delta(self, data: dict, out: list[bytes]) -> None:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            out.append(self._chunk({"content": delta.get("text", "")}))
        elif kind == "thinking_delta":
            out.append(self._chunk({"reasoning_content": delta.get("thinking", "")}))
        elif kind == "input_json_delta":
            index = self.tools.get(data.get("index", 0))
            if index is not None and delta.get("partial_json"):
                call = {"index": index, "function": {"arguments": delta["partial_json"]}}
                out.append(self._chunk({"tool_calls": [call]}))

    def finish(self, out: list[bytes]) -> None:
        if self.finished:
            return
        self.finished = True
        if self.include_usage:
            out.append(self._chunk(None, usage=vocab.openai_usage(self.usage)))
        out.append(DONE)

    def whole(self, body: bytes) -> bytes:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(message, dict) or message.get("type") != "message":
            return body
        return orjson.dumps(anthropic_to_openai.response(message, self.model, self.created))


def openai_error(error: dict) -> dict:
    """An Anthropic error object in OpenAI's shape (type kept, status as the code)."""
    kind = error.get("type") or "api_error"
    return {
        "message": str(error.get("message") or "engine error"),
        "type": kind,
        "param": None,
        "code": ERROR_TYPES.get(kind, 500),
    }
