"""OpenAI chat answers -> OpenAI Responses answers, streamed or whole (the /v1/responses front).

The stream becomes Responses' typed events: response.created and response.in_progress; per
output item response.output_item.added, its deltas (response.reasoning_text.delta,
response.output_text.delta inside a content part, response.function_call_arguments.delta),
their .done events and response.output_item.done; then response.completed (or
response.incomplete when max_output_tokens cut the answer) carrying the whole Response.
Every event has a `sequence_number`. An engine error event becomes an `error` event.
"""

from __future__ import annotations

import time

import orjson

from comox.translate import responses, vocab
from comox.translate.sse import ChatTranscoder, encode


class ChatToResponses(ChatTranscoder):
    def __init__(self, payload: dict, model: str) -> None:
        super().__init__()
        self.payload = payload
        self.model = model
        self.response = responses.skeleton(payload, model, responses.new_id("resp"), int(time.time()))
        self.seq = 0
        self.started = False
        self.item: dict | None = None
        """The open output item (reasoning or message); tool calls stay open until the end."""
        self.text = ""
        self.calls: dict[int, dict] = {}
        self.finish_reason: str | None = None
        self.usage: dict | None = None

    def _send(self, kind: str, out: list[bytes], **fields) -> None:
        out.append(encode(kind, {"type": kind, "sequence_number": self.seq, **fields}))
        self.seq += 1

    def error(self, error: dict, out: list[bytes]) -> None:
        code = error.get("code")
        self._send(
            "error",
            out,
            code=str(code) if code is not None else None,
            message=str(error.get("message")),
            param=None,
        )

    def chunk(self, chunk: dict, out: list[bytes]) -> None:
        if not self.started:
            self.started = True
            self._send("response.created", out, response=self.response)
            self._send("response.in_progress", out, response=self.response)
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = vocab.reasoning_of(delta)
            if reasoning:
                self._text_delta("reasoning", reasoning, out)
            if delta.get("content"):
                self._text_delta("message", delta["content"], out)
            for call in delta.get("tool_calls") or ():
                self._call_delta(call, out)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _index(self) -> int:
        return len(self.response["output"])

    def _text_delta(self, kind: str, text: str, out: list[bytes]) -> None:
        if self.item is None or self.item["type"] != kind:
            self._close_item(out)
            if kind == "reasoning":
                self.item = responses.reasoning_item("")
                self.item["content"] = []
            else:
                self.item = responses.message_item("", status="in_progress")
                self.item["content"] = []
            self.text = ""
            index = self._index()
            self._send("response.output_item.added", out, output_index=index, item=self.item)
            part = _part(kind, "")
            self._send(
                "response.content_part.added",
                out,
                item_id=self.item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
        self.text += text
        name = "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
        extra = {} if kind == "reasoning" else {"logprobs": []}
        self._send(
            name,
            out,
            item_id=self.item["id"],
            output_index=self._index(),
            content_index=0,
            delta=text,
            **extra,
        )

    def _close_item(self, out: list[bytes]) -> None:
        item = self.item
        if item is None:
            return
        index = self._index()
        kind = item["type"]
        part = _part(kind, self.text)
        done = "response.reasoning_text.done" if kind == "reasoning" else "response.output_text.done"
        extra = {} if kind == "reasoning" else {"logprobs": []}
        self._send(
            done, out, item_id=item["id"], output_index=index, content_index=0, text=self.text, **extra
        )
        self._send(
            "response.content_part.done",
            out,
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=part,
        )
        item["content"] = [part]
        if kind == "message":
            item["status"] = "completed"
        self._send("response.output_item.done", out, output_index=index, item=item)
        self.response["output"].append(item)
        self.item = None

    def _call_delta(self, call: dict, out: list[bytes]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        state = self.calls.get(index)
        if state is None:
            self._close_item(out)
            self._close_calls(out)
            item = responses.call_item(
                call.get("id") or responses.new_id("call"),
                function.get("name") or "",
                "",
                status="in_progress",
            )
            state = self.calls[index] = {"item": item, "output_index": self._index() + len(self.calls)}
            self._send("response.output_item.added", out, output_index=state["output_index"], item=dict(item))
        arguments = function.get("arguments")
        if arguments:
            state["item"]["arguments"] += arguments
            self._send(
                "response.function_call_arguments.delta",
                out,
                item_id=state["item"]["id"],
                output_index=state["output_index"],
                delta=arguments,
            )

    def _close_calls(self, out: list[bytes]) -> None:
        for state in self.calls.values():
            item = state["item"]
            item["status"] = "completed"
            self._send(
                "response.function_call_arguments.done",
                out,
                item_id=item["id"],
                output_index=state["output_index"],
                name=item["name"],
                arguments=item["arguments"],
            )
            self._send("response.output_item.done", out, output_index=state["output_index"], item=item)
            self.response["output"].append(item)
        self.calls = {}

    def finish(self, out: list[bytes]) -> None:
        if self.finished:
            return
        self.finished = True
        if not self.started:
            self.started = True
            self._send("response.created", out, response=self.response)
        self._close_item(out)
        self._close_calls(out)
        responses.complete(self.response, self.finish_reason, self.usage)
        name = "response.incomplete" if self.response["status"] == "incomplete" else "response.completed"
        self._send(name, out, response=self.response)

    def whole(self, body: bytes) -> bytes:
        try:
            completion = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(completion, dict) or "choices" not in completion:
            return body
        return orjson.dumps(responses.response(completion, self.payload, self.model))


def _part(kind: str, text: str) -> dict:
    if kind == "reasoning":
        return {"type": "reasoning_text", "text": text}
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
