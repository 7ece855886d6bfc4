"""Property tests: a request or an answer translated to the other family and back keeps the
conversation's meaning (roles, text, images, tool calls and their results, in order)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from comox.translate import anthropic_to_openai, openai_to_anthropic

TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
)
IDS = st.from_regex(r"toolu_[a-z0-9]{6}", fullmatch=True)
NAMES = st.from_regex(r"[a-z_]{1,10}", fullmatch=True)
JSON_OBJECT = st.dictionaries(
    st.from_regex(r"[a-z]{1,5}", fullmatch=True),
    st.integers(-(2**53), 2**53) | TEXT | st.booleans(),
    max_size=3,
)
USER_BLOCK = st.one_of(
    TEXT.map(lambda t: {"type": "text", "text": t}),
    st.from_regex(r"[A-Za-z0-9+/]{4,16}", fullmatch=True).map(
        lambda d: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}}
    ),
    st.from_regex(r"https://img\.example/[a-z]{1,8}\.png", fullmatch=True).map(
        lambda u: {"type": "image", "source": {"type": "url", "url": u}}
    ),
)


@st.composite
def anthropic_conversations(draw) -> dict:
    """Alternating turns in the form the translation produces (content as block lists, one text
    block before tool uses in assistant turns, tool results first in the next user turn)."""
    messages = [{"role": "user", "content": draw(st.lists(USER_BLOCK, min_size=1, max_size=3))}]
    for _ in range(draw(st.integers(0, 3))):
        blocks = []
        if draw(st.booleans()):
            blocks.append({"type": "text", "text": draw(TEXT)})
        uses = [
            {"type": "tool_use", "id": draw(IDS), "name": draw(NAMES), "input": draw(JSON_OBJECT)}
            for _ in range(draw(st.integers(0 if blocks else 1, 2)))
        ]
        messages.append({"role": "assistant", "content": blocks + uses})
        results = [{"type": "tool_result", "tool_use_id": u["id"], "content": draw(TEXT)} for u in uses]
        extra = draw(st.lists(USER_BLOCK, min_size=0 if results else 1, max_size=2))
        messages.append({"role": "user", "content": results + extra})
    request = {"model": "m", "max_tokens": draw(st.integers(1, 4096)), "messages": messages}
    if draw(st.booleans()):
        request["system"] = draw(TEXT)
    if draw(st.booleans()):
        request["stop_sequences"] = draw(st.lists(TEXT, min_size=1, max_size=2))
    if draw(st.booleans()):
        request["tools"] = [{"name": draw(NAMES), "input_schema": {"type": "object", "properties": {}}}]
    return request


@settings(max_examples=150, deadline=None)
@given(anthropic_conversations())
def test_anthropic_request_survives_a_round_trip_through_chat(request):
    chat = anthropic_to_openai.request(request)
    assert openai_to_anthropic.request(chat) == request


@settings(max_examples=150, deadline=None)
@given(anthropic_conversations())
def test_chat_request_survives_a_round_trip_through_anthropic(request):
    chat = anthropic_to_openai.request(request)
    assert anthropic_to_openai.request(openai_to_anthropic.request(chat)) == chat


@settings(max_examples=150, deadline=None)
@given(
    text=st.none() | TEXT,
    reasoning=st.none() | TEXT,
    calls=st.lists(st.tuples(IDS, NAMES, JSON_OBJECT), max_size=3),
    finish=st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
    usage=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**3)),
)
def test_chat_answer_survives_a_round_trip_through_anthropic(text, reasoning, calls, finish, usage):
    prompt, completion, cached = usage
    message = {"role": "assistant", "content": text if text or not calls else None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": orjson.dumps(a).decode()}}
            for i, n, a in calls
        ]
    completion_obj = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt + cached,
            "completion_tokens": completion,
            "total_tokens": prompt + cached + completion,
            **({"prompt_tokens_details": {"cached_tokens": cached}} if cached else {}),
        },
    }
    back = anthropic_to_openai.response(openai_to_anthropic.response(completion_obj, "m"), "m", created=1)
    if not message["content"] and not calls:
        message["content"] = ""  # an empty answer: None and "" say the same
    assert back == {**completion_obj, "id": "chatcmpl-msg_abc"}
