import orjson

from comox.cache.replay import PIECE, assemble, stream_events


def whole(content: str, usage: dict | None = None) -> bytes:
    doc = {
        "id": "c1",
        "object": "chat.completion",
        "created": 5,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }
    if usage:
        doc["usage"] = usage
    return orjson.dumps(doc)


def test_a_whole_answer_replays_as_chunks_that_assemble_back():
    text = "x" * (PIECE * 2 + 5)
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    events = stream_events(whole(text, usage), include_usage=True)
    assert events[-1] == b"data: [DONE]\n\n" and all(e.endswith(b"\n\n") for e in events)
    chunks = [orjson.loads(e[6:]) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["usage"] == usage and chunks[-1]["choices"] == []
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert orjson.loads(assemble(b"".join(events))) == orjson.loads(whole(text, usage))


def test_usage_is_replayed_only_when_asked_for():
    events = stream_events(whole("hi", {"total_tokens": 1}), include_usage=False)
    assert not any(b'"usage"' in e for e in events)


def test_an_unfinished_or_failed_stream_does_not_assemble():
    events = stream_events(whole("hello"), include_usage=False)
    assert assemble(b"".join(events[:-1])) is None
    assert assemble(b"".join(events[:2]) + b'data: {"error": {"message": "boom"}}\n\n') is None
    tool = b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]}}]}\n\ndata: [DONE]\n\n'
    assert assemble(tool) is None
