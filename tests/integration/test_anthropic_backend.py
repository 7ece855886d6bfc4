"""An Anthropic-speaking backend: the official openai SDK against the gateway, with the test
engine in Anthropic mode behind it (its output checked against the anthropic SDK's types)."""

from __future__ import annotations

import json
import time
import urllib.request

import anthropic
import openai
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent

from comox.testing.processes import backend, gateway_config, start_engine, start_gateway
from comox.translate.sse import EventSplitter

PROVIDER_KEY = "sk-ant-provider-secret"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def claude():
    proc = start_engine("--model", "claude-test", "--api", "anthropic", "--api-key", PROVIDER_KEY)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateway(claude):
    config = gateway_config(
        backend(
            claude.url,
            {"claude": "claude-test"},
            name="anthropic-a",
            engine="anthropic",
            api_key=PROVIDER_KEY,
        ),
        routing={"retries": 0},
    )
    proc = start_gateway(config)
    yield proc
    proc.stop()


@pytest.fixture
def client(gateway, claude) -> openai.OpenAI:
    claude.post_json("/_control/reset", {})
    time.sleep(0.02)
    return openai.OpenAI(
        base_url=gateway.url + "/v1", api_key="client-key-never-forwarded", max_retries=0, timeout=20
    )


def _engine(claude, body: dict) -> bytes:
    headers = {
        "content-type": "application/json",
        "x-api-key": PROVIDER_KEY,
        "anthropic-version": "2023-06-01",
    }
    request = urllib.request.Request(claude.url + "/v1/messages", json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read()


def test_the_test_engine_speaks_anthropic_faithfully(claude):
    body = {
        "model": "claude-test",
        "max_tokens": 50,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [
            {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
        ],
        "messages": [{"role": "user", "content": "find it"}],
    }
    message = Message.model_validate_json(_engine(claude, body))
    assert [b.type for b in message.content] == ["thinking", "tool_use"]
    adapter = pydantic.TypeAdapter(RawMessageStreamEvent)
    splitter = EventSplitter()
    parsed = splitter.feed(_engine(claude, {**body, "stream": True}))
    names = [e.name for e in parsed]
    assert names[0] == "message_start" and names[-1] == "message_stop" and "ping" in names
    for event in parsed:
        if event.name != "ping":
            assert adapter.validate_json(event.data).type == event.name


def test_chat_completion_is_translated_both_ways_with_provider_auth(client, claude):
    reply = client.chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello claude"}],
        max_tokens=30,
        stop=["never"],
    )
    assert reply.choices[0].message.content == "echo: hello claude"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 4 and reply.usage.completion_tokens == 3
    sent = claude.get_json("/_stats")["last_request"]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == PROVIDER_KEY and sent["headers"]["anthropic-version"]
    assert "authorization" not in sent["headers"]
    assert "client-key-never-forwarded" not in json.dumps(sent)
    assert sent["body"]["system"] == "Be brief." and sent["body"]["max_tokens"] == 30
    assert sent["body"]["stop_sequences"] == ["never"] and sent["body"]["model"] == "claude-test"


def test_stream_is_translated_to_chat_chunks_with_usage(client):
    chunks = list(
        client.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert chunks[-1].usage.completion_tokens == 4


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_round_trip_through_an_anthropic_backend(client, claude, stream):
    first = _chat(client, stream, tools=TOOLS, messages=[{"role": "user", "content": "find otters"}])
    assert first["finish_reason"] == "tool_calls"
    call = first["tool_calls"][0]
    assert call["function"]["name"] == "lookup" and json.loads(call["function"]["arguments"]) == {
        "query": "find otters"
    }
    conversation = [
        {"role": "user", "content": "find otters"},
        {"role": "assistant", "content": None, "tool_calls": first["tool_calls"]},
        {"role": "tool", "tool_call_id": call["id"], "content": "otters are mustelids"},
    ]
    second = _chat(client, stream, tools=TOOLS, messages=conversation)
    assert (second["content"], second["finish_reason"]) == ("echo: otters are mustelids", "stop")
    sent = claude.get_json("/_stats")["last_request"]["body"]["messages"]
    assert sent[1]["content"][0] == {
        "type": "tool_use",
        "id": call["id"],
        "name": "lookup",
        "input": {"query": "find otters"},
    }
    assert (
        sent[2]["content"][0]["type"] == "tool_result" and sent[2]["content"][0]["tool_use_id"] == call["id"]
    )


def _chat(client, stream: bool, **kwargs) -> dict:
    if not stream:
        reply = client.chat.completions.create(model="claude", **kwargs).choices[0]
        message = reply.message.model_dump(exclude_none=True)
        return {
            "content": message.get("content"),
            "tool_calls": message.get("tool_calls"),
            "finish_reason": reply.finish_reason,
        }
    content, calls, finish = "", {}, None
    for chunk in client.chat.completions.create(model="claude", stream=True, **kwargs):
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for c in choice.delta.tool_calls or ():
                slot = calls.setdefault(
                    c.index, {"id": c.id, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                slot["function"]["name"] += (c.function and c.function.name) or ""
                slot["function"]["arguments"] += (c.function and c.function.arguments) or ""
            finish = choice.finish_reason or finish
    return {
        "content": content,
        "tool_calls": [calls[i] for i in sorted(calls)] or None,
        "finish_reason": finish,
    }


def test_provider_errors_map_to_openai_statuses(client, claude):
    claude.post_json(
        "/_control",
        {
            "fail_status": 400,
            "fail_body": json.dumps(
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "messages.0: bad thing"},
                }
            ),
            "times": 1,
        },
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["message"] == "messages.0: bad thing"
    claude.post_json("/_control", {"fail_status": 529, "times": 1})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503 and info.value.body["type"] == "overloaded_error"
    time.sleep(0.05)
    claude.post_json("/_control", {"fail_status": 429, "times": 1})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.body["type"] == "rate_limit_error"
    time.sleep(1.1)  # the backend asked for a second's rest


def test_error_inside_an_anthropic_stream_reaches_the_openai_client(client, claude):
    claude.post_json("/_control", {"error_after_chunks": 4, "times": 1})
    with pytest.raises(openai.APIError) as info:
        list(
            client.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "a b c d"}], stream=True
            )
        )
    assert "fake failure inside the stream" in str(info.value)


def test_anthropic_sdk_through_the_gateway_to_an_anthropic_backend(gateway, claude):
    client = anthropic.Anthropic(base_url=gateway.url, api_key="client", max_retries=0, timeout=20)
    with client.messages.stream(
        model="claude", max_tokens=40, messages=[{"role": "user", "content": "round trip"}]
    ) as s:
        final = s.get_final_message()
    assert final.content[0].text == "echo: round trip" and final.stop_reason == "end_turn"
