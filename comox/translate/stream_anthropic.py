"""OpenAI chat answers -> Anthropic Messages answers, streamed or whole (the /v1/messages front).

The stream becomes Anthropic's event sequence: message_start, then for each block in order
content_block_start / content_block_delta... / content_block_stop (reasoning as `thinking`,
text as `text`, each tool call as `tool_use` with `input_json_delta`), then message_delta
(stop reason and usage) and message_stop. A new block starts whenever the kind of delta
changes, so reasoning, text and tool calls keep the order the engine produced them in.
An engine error event becomes Anthropic's `error` event and ends the stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from comox.translate import openai_to_anthropic, vocab
from comox.translate.sse import ChatTranscoder, encode

_PING = encode("ping", {"type": "ping"})


class ChatToAnthropic(ChatTranscoder):
    def __init__(self, model: str, stop_sequences: Any = None) -> None:
        super().__init__()
        self.model = model
        self.stop_sequences = stop_sequences
        self.started = False
        self.block = -1
        """Index of the open content block, -1 when none is open."""
        self.kind = ""
        self.tools: dict[int, int] = {}
        """OpenAI tool_call index -> Anthropic block index."""
        self.stop: tuple[str, str | None] = ("end_turn", None)
        self.usage: dict | None = None

    # ---- stream --------------------------------------------------------------------------
    def chunk(self, chunk: dict, out: list[bytes]) -> None:
        if not self.started:
            self._start(chunk, out)
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            self._delta(choice.get("delta") or {}, out)
            if choice.get("finish_reason"):
                self.stop = vocab.anthropic_stop(
                    choice["finish_reason"], choice.get("stop_reason"), self.stop_sequences
                )

    def _start(self, chunk: dict, out: list[bytes]) -> None:
        self.started = True
        message = {
            "id": openai_to_anthropic.message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(encode("message_start", {"type": "message_start", "message": message}))
        out.append(_PING)

    def _delta(self, delta: dict, out: list[bytes]) -> None:
        reasoning = vocab.reasoning_of(delta)
        if reasoning:
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self._emit({"type": "thinking_delta", "thinking": reasoning}, out)
        text = delta.get("content")
        if text:
            self._open("text", {"type": "text", "text": ""}, out)
            self._emit({"type": "text_delta", "text": text}, out)
        for call in delta.get("tool_calls") or ():
            index = call.get("index", 0)
            function = call.get("function") or {}
            if index not in self.tools:
                self._close(out)
                self.block += 1
                self.kind = "tool_use"
                self.tools[index] = self.block
                start = {
                    "type": "tool_use",
                    "id": call.get("id") or openai_to_anthropic.tool_id(),
                    "name": function.get("name") or "",
                    "input": {},
                }
                out.append(_block_event("content_block_start", self.block, "content_block", start))
            arguments = function.get("arguments")
            if arguments:
                delta_obj = {"type": "input_json_delta", "partial_json": arguments}
                out.append(_block_event("content_block_delta", self.tools[index], "delta", delta_obj))

    def _open(self, kind: str, start: dict, out: list[bytes]) -> None:
        if self.kind == kind and self.block >= 0:
            return
        self._close(out)
        self.block += 1
        self.kind = kind
        out.append(_block_event("content_block_start", self.block, "content_block", start))

    def _emit(self, delta: dict, out: list[bytes]) -> None:
        out.append(_block_event("content_block_delta", self.block, "delta", delta))

    def _close(self, out: list[bytes]) -> None:
        if self.kind:
            out.append(encode("content_block_stop", {"type": "content_block_stop", "index": self.block}))
            self.kind = ""

    def finish(self, out: list[bytes]) -> None:
        if self.finished:
            return
        if not self.started:
            self._start({}, out)
        self.finished = True
        self._close(out)
        stop_reason, stop_sequence = self.stop
        usage = vocab.anthropic_usage(self.usage)
        delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
        out.append(encode("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(encode("message_stop", {"type": "message_stop"}))

    def error(self, error: dict, out: list[bytes]) -> None:
        out.append(encode("error", {"type": "error", "error": _anthropic_error(error)}))

    # ---- whole ---------------------------------------------------------------------------
    def whole(self, body: bytes) -> bytes:
        try:
            completion = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(completion, dict) or "choices" not in completion:
            return body
        return orjson.dumps(openai_to_anthropic.response(completion, self.model, self.stop_sequences))


def _block_event(name: str, index: int, key: str, value: dict) -> bytes:
    return encode(name, {"type": name, "index": index, key: value})


_TYPES_BY_CODE = {400: "invalid_request_error", 429: "rate_limit_error", 503: "overloaded_error"}


def _anthropic_error(error: dict) -> dict:
    code = error.get("code")
    kind = _TYPES_BY_CODE.get(code) if isinstance(code, int) else None
    return {"type": kind or "api_error", "message": str(error.get("message") or "engine error")}
