"""Stream transcoders: the events follow each family's sequence (checked with the anthropic
SDK's types and accumulator), a stream means the same as the whole answer, and how reads cut
the bytes never matters."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from comox.translate import openai_to_anthropic
from comox.translate.stream_anthropic import ChatToAnthropic
from comox.translate.stream_openai_from_anthropic import AnthropicToChat
from comox.translate.stream_responses import ChatToResponses
from tests.translate.streams import anthropic_message, chat_chunks, chat_completion, cut, events, run

SEGMENTS = [
    ("reasoning", "Let me"),
    ("reasoning", " think."),
    ("text", "Checking"),
    ("text", " now."),
    ("tool", ("call_1", "lookup", ['{"q":', ' "cats"}'])),
    ("tool", ("call_2", "clock", ["{}"])),
]
USAGE = {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}


def test_chat_stream_becomes_the_full_anthropic_event_sequence():
    data = run(ChatToAnthropic("claude-x"), chat_chunks(SEGMENTS, "tool_calls", USAGE))
    names = [name for name, _ in events(data)]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    blocks = [p["content_block"]["type"] for n, p in events(data) if n == "content_block_start"]
    assert blocks == ["thinking", "text", "tool_use", "tool_use"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 4
    message = anthropic_message(data)
    assert message.model == "claude-x"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].thinking == "Let me think."
    assert message.content[1].text == "Checking now."
    assert message.content[2].input == {"q": "cats"} and message.content[2].id == "call_1"
    assert message.content[3].input == {}
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 11 and message.usage.output_tokens == 9


def test_stop_sequence_reported_by_vllm_becomes_stop_sequence():
    chunks = chat_chunks([("text", "one")], "stop", USAGE)
    chunks[-3] = chunks[-3].replace(b'"finish_reason":"stop"', b'"finish_reason":"stop","stop_reason":"END"')
    message = anthropic_message(run(ChatToAnthropic("m", ["END"]), chunks))
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")


def test_engine_error_inside_a_stream_becomes_an_anthropic_error_event_and_ends_it():
    chunks = chat_chunks([("text", "partial")], "stop", None)
    error = (
        b'data: {"error": {"message": "engine fell over", "type": "InternalServerError", "code": 500}}\n\n'
    )
    data = run(ChatToAnthropic("m"), [*chunks[:2], error, *chunks[2:]])
    parsed = events(data)
    assert parsed[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "engine fell over"}},
    )
    assert "message_stop" not in [n for n, _ in parsed]


def _anthropic_stream(message: dict) -> bytes:
    """A faithful Anthropic event stream for `message` (as the test engine writes it)."""
    out = [
        (
            "message_start",
            {
                "message": {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 7, "output_tokens": 1},
                }
            },
        )
    ]
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        start = {
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "text": {"type": "text", "text": ""},
        }.get(kind) or {**block, "input": {}}
        out.append(("content_block_start", {"index": i, "content_block": start}))
        if kind == "thinking":
            out.append(
                (
                    "content_block_delta",
                    {"index": i, "delta": {"type": "thinking_delta", "thinking": block["thinking"]}},
                )
            )
            out.append(
                (
                    "content_block_delta",
                    {"index": i, "delta": {"type": "signature_delta", "signature": "sig"}},
                )
            )
        elif kind == "text":
            for word in block["text"].split(" "):
                out.append(
                    ("content_block_delta", {"index": i, "delta": {"type": "text_delta", "text": word + " "}})
                )
        else:
            text = orjson.dumps(block["input"]).decode()
            for part in (text[:3], text[3:]):
                out.append(
                    (
                        "content_block_delta",
                        {"index": i, "delta": {"type": "input_json_delta", "partial_json": part}},
                    )
                )
        out.append(("content_block_stop", {"index": i}))
    out.append(
        (
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        )
    )
    out.append(("message_stop", {}))
    return b"".join(b"event: %s\ndata: %s\n\n" % (n.encode(), orjson.dumps({"type": n, **p})) for n, p in out)


def test_anthropic_stream_becomes_chat_chunks_meaning_the_same_as_the_whole_answer():
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "sig"},
            {"type": "text", "text": "a b"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": [1, 2]}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
    }
    streamed = chat_completion(
        run(AnthropicToChat("pub", include_usage=True), cut(_anthropic_stream(message), [7, 13]))
    )
    whole = orjson.loads(
        AnthropicToChat("pub", True).whole(
            orjson.dumps({**message, "usage": {"input_tokens": 7, "output_tokens": 5}})
        )
    )
    got, want = streamed["choices"][0], whole["choices"][0]
    assert got["message"]["content"].strip() == want["message"]["content"].replace(" ", " ").strip()
    assert got["message"]["reasoning_content"] == want["message"]["reasoning_content"] == "hm"
    assert got["message"]["tool_calls"] == want["message"]["tool_calls"]
    assert got["finish_reason"] == want["finish_reason"] == "tool_calls"
    assert streamed["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def test_anthropic_error_event_becomes_an_openai_error_chunk():
    data = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    parsed = events(run(AnthropicToChat("m", False), [data]))
    assert parsed == [
        (None, {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": 503}})
    ]


def test_chat_stream_becomes_responses_events_with_sequence_numbers():
    data = run(ChatToResponses({"model": "m", "input": "x"}, "m"), chat_chunks(SEGMENTS, "tool_calls", USAGE))
    parsed = events(data)
    assert [p["sequence_number"] for _, p in parsed] == list(range(len(parsed)))
    assert all(n == p["type"] for n, p in parsed)
    names = [n for n, _ in parsed]
    assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
    final = parsed[-1][1]["response"]
    assert [i["type"] for i in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert final["output"][1]["content"][0]["text"] == "Checking now."
    assert final["output"][2]["arguments"] == '{"q": "cats"}'
    assert final["usage"]["total_tokens"] == 20
    added = [p["output_index"] for n, p in parsed if n == "response.output_item.added"]
    assert added == [0, 1, 2, 3]


TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
SEGMENT = st.one_of(
    st.tuples(st.just("reasoning"), TEXT),
    st.tuples(st.just("text"), TEXT),
    st.tuples(
        st.just("tool"),
        st.tuples(
            st.from_regex(r"call_[a-z0-9]{4}", fullmatch=True),
            st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
            st.dictionaries(
                st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.integers(-(2**53), 2**53) | TEXT, max_size=3
            ).map(lambda d: [orjson.dumps(d).decode()[:2], orjson.dumps(d).decode()[2:]]),
        ),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    segments=st.lists(SEGMENT, max_size=6),
    finish=st.sampled_from(["stop", "length", "tool_calls"]),
    sizes=st.lists(st.integers(1, 80), min_size=1, max_size=5),
)
def test_stream_round_trip_keeps_the_answers_meaning(segments, finish, sizes):
    """chat chunks -> Anthropic events -> chat chunks: same reasoning, text, tool calls, finish
    and usage, however the reads are cut; and the Anthropic stream equals the whole translation."""
    chunks = b"".join(chat_chunks(segments, finish, USAGE))
    anthropic = run(ChatToAnthropic("m"), cut(chunks, sizes))
    back = chat_completion(run(AnthropicToChat("m", include_usage=True), cut(anthropic, sizes[::-1])))
    original = chat_completion(chunks)
    assert back["choices"][0]["finish_reason"] == (original["choices"][0]["finish_reason"])
    got, want = back["choices"][0]["message"], original["choices"][0]["message"]
    for key in ("content", "reasoning_content"):
        assert got.get(key) == want.get(key)
    assert [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in got.get("tool_calls", [])
    ] == [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in want.get("tool_calls", [])
    ]
    assert back["usage"] == USAGE
    streamed = anthropic_message(anthropic)
    whole = openai_to_anthropic.response({"id": "chatcmpl-x", **original}, "m")
    assert _meaning(streamed.model_dump()["content"]) == _meaning(whole["content"])
    assert streamed.stop_reason == whole["stop_reason"]


def _meaning(blocks: list[dict]) -> tuple:
    """Text, thinking and tool uses of an answer (a stream may hold several text blocks where
    the whole answer has one, when reasoning and text interleave)."""
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    thinking = "".join(b["thinking"] for b in blocks if b["type"] == "thinking")
    tools = [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
    return text, thinking, tools
