"""Chat answers in the two forms a client may ask for: whole JSON and an SSE stream.

Chat answers are stored whole (`chat.completion`), whichever form the client that filled
the entry used, so one entry serves both: a streamed answer is assembled from its chunks,
and a whole answer is replayed as `chat.completion.chunk` events the way engines send
them (role first, content in pieces, finish reason, usage only when the client asked for
it with `stream_options.include_usage`, then `[DONE]`). Pure functions of bytes.
"""

from __future__ import annotations

from typing import Any

import orjson

PIECE = 48
"""Characters of content per replayed chunk: small enough to look like a stream, large
enough that a long answer is not thousands of events."""


def assemble(sse: bytes) -> bytes | None:
    """A whole chat.completion from a streamed one; None when the stream did not finish
    (no `[DONE]`), carried an error, or holds deltas we do not rebuild (tool-call pieces)."""
    first: dict[str, Any] | None = None
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    done = False
    for line in sse.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            break
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(chunk, dict) or "error" in chunk:
            return None
        first = first or chunk
        if chunk.get("usage"):
            usage = chunk["usage"]
        for c in chunk.get("choices") or ():
            delta = c.get("delta") or {}
            if set(delta) - {"role", "content", "refusal"}:
                return None
            slot = choices.setdefault(c.get("index", 0), {"role": "assistant", "content": "", "finish": None})
            slot["content"] += delta.get("content") or ""
            if c.get("finish_reason"):
                slot["finish"] = c["finish_reason"]
    if not done or first is None or not choices:
        return None
    whole = {
        "id": first.get("id", ""),
        "object": "chat.completion",
        "created": first.get("created", 0),
        "model": first.get("model", ""),
        "choices": [
            {
                "index": i,
                "message": {"role": s["role"], "content": s["content"]},
                "finish_reason": s["finish"],
            }
            for i, s in sorted(choices.items())
        ],
    }
    if usage is not None:
        whole["usage"] = usage
    return orjson.dumps(whole)


def _event(doc: dict) -> bytes:
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def stream_events(whole: bytes, include_usage: bool) -> list[bytes]:
    """A stored whole chat answer as SSE events, `[DONE]` included."""
    answer = orjson.loads(whole)
    head = {
        "id": answer.get("id", ""),
        "object": "chat.completion.chunk",
        "created": answer.get("created", 0),
        "model": answer.get("model", ""),
    }
    events = []
    for choice in answer.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}

        def chunk(delta: dict, finish: str | None = None, index: int = index) -> bytes:
            return _event({**head, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})

        events.append(chunk({"role": message.get("role", "assistant"), "content": ""}))
        content = message.get("content") or ""
        for start in range(0, len(content), PIECE):
            events.append(chunk({"content": content[start : start + PIECE]}))
        if message.get("tool_calls"):
            calls = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
            events.append(chunk({"tool_calls": calls}))
        events.append(chunk({}, choice.get("finish_reason") or "stop"))
    if include_usage and answer.get("usage"):
        events.append(_event({**head, "choices": [], "usage": answer["usage"]}))
    events.append(b"data: [DONE]\n\n")
    return events
