"""Helpers shared by the stream translation tests: build chat chunk streams, read event streams
with the SDKs' own types, and put streamed answers back together."""

from __future__ import annotations

import orjson
import pydantic
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent

from comox.translate.sse import EventSplitter

ANTHROPIC_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def chat_chunks(segments: list[tuple[str, object]], finish: str, usage: dict | None) -> list[bytes]:
    """A vLLM-like chunk stream: segments are ("reasoning", text), ("text", text) or
    ("tool", (id, name, [argument fragments]))."""
    base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "e"}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    tool_index = 0
    for kind, value in segments:
        if kind == "reasoning":
            events.append({**base, "choices": [{"index": 0, "delta": {"reasoning_content": value}}]})
        elif kind == "text":
            events.append({**base, "choices": [{"index": 0, "delta": {"content": value}}]})
        else:
            call_id, name, fragments = value
            head = {
                "index": tool_index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            events.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
            for fragment in fragments:
                delta = {"tool_calls": [{"index": tool_index, "function": {"arguments": fragment}}]}
                events.append({**base, "choices": [{"index": 0, "delta": delta}]})
            tool_index += 1
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage is not None:
        events.append({**base, "choices": [], "usage": usage})
    return [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """`data` in pieces of the given sizes (cycled), as reads from a socket would come."""
    pieces, at, i = [], 0, 0
    while at < len(data):
        size = max(1, sizes[i % len(sizes)]) if sizes else len(data)
        pieces.append(data[at : at + size])
        at += size
        i += 1
    return pieces


def run(codec, pieces: list[bytes]) -> bytes:
    return b"".join(codec.feed(p) for p in pieces) + codec.flush()


def events(data: bytes) -> list[tuple[str | None, dict | None]]:
    splitter = EventSplitter()
    return [(e.name, e.json()) for e in splitter.feed(data) + splitter.flush()]


def anthropic_message(data: bytes) -> Message:
    """The stream read the way the anthropic SDK reads it: every event validated against its
    types, the `event:` name equal to the data's type, accumulated by the SDK's own code."""
    snapshot = None
    bufs: dict[int, bytes] = {}
    for name, payload in events(data):
        assert payload is not None
        assert name == payload["type"]
        if name == "ping":
            continue
        event = ANTHROPIC_EVENT.validate_python(payload)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    assert snapshot is not None
    return snapshot


def chat_completion(data: bytes) -> dict:
    """Chat chunks accumulated as the openai SDK's stream helpers do, as a whole completion."""
    message: dict = {"role": "assistant", "content": None}
    calls: dict[int, dict] = {}
    finish, usage, done = None, None, False
    for name, chunk in events(data):
        if chunk is None:
            done = True
            continue
        assert name is None
        assert not done
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            delta = choice["delta"]
            for key in ("content", "reasoning_content"):
                if delta.get(key):
                    message[key] = (message.get(key) or "") + delta[key]
            for call in delta.get("tool_calls") or ():
                slot = calls.setdefault(
                    call["index"], {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                slot["id"] = call.get("id") or slot["id"]
                slot["function"]["name"] += (call.get("function") or {}).get("name") or ""
                slot["function"]["arguments"] += (call.get("function") or {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    assert done, "the stream must end with [DONE]"
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
