"""The Messages API end to end: the official anthropic SDK against the gateway process, with a
vLLM-like OpenAI-compatible test engine behind it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import anthropic
import pytest

from comox.testing.processes import backend, gateway_config, start_gateway

TOOLS = [
    {
        "name": "lookup",
        "description": "Look a word up",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    }
]


@pytest.fixture(scope="module")
def gateway(engine):
    proc = start_gateway(gateway_config(backend(engine.url, {"claude-local": "test-model"})))
    yield proc
    proc.stop()


@pytest.fixture
def client(gateway, engine) -> anthropic.Anthropic:
    engine.post_json("/_control/reset", {})
    return anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0, timeout=20)


def test_message_with_system_prompt_comes_back_in_anthropic_shape(client, engine):
    message = client.messages.create(
        model="claude-local",
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello from anthropic"}]}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "echo: hello from anthropic"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 4 and message.usage.input_tokens > 0
    sent = engine.get_json("/_stats")["last_request"]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["body"]["model"] == "test-model" and sent["body"]["max_tokens"] == 64


def test_stream_carries_the_full_event_sequence_and_usage(client):
    with client.messages.stream(
        model="claude-local", max_tokens=64, messages=[{"role": "user", "content": "one two three"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert final.content[0].text == "echo: one two three"
    assert final.usage.output_tokens == 4 and final.stop_reason == "end_turn"


def test_max_tokens_and_stop_sequences(client):
    cut = client.messages.create(
        model="claude-local", max_tokens=2, messages=[{"role": "user", "content": "a b c"}]
    )
    assert (cut.content[0].text, cut.stop_reason) == ("echo: a", "max_tokens")
    stopped = client.messages.create(
        model="claude-local",
        max_tokens=50,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "a b STOP c"}],
    )
    assert stopped.content[0].text == "echo: a b"
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "STOP")


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(client, engine, stream):
    first = _create(client, stream, tools=TOOLS, messages=[{"role": "user", "content": "find otters"}])
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "lookup" and use.input == {"query": "find otters"}
    conversation = [
        {"role": "user", "content": "find otters"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "otters are mustelids"}],
        },
    ]
    second = _create(client, stream, tools=TOOLS, messages=conversation)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "echo: otters are mustelids"
    sent = engine.get_json("/_stats")["last_request"]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == use.id
    assert sent[2] == {"role": "tool", "tool_call_id": use.id, "content": "otters are mustelids"}


def _create(client, stream: bool, **kwargs):
    if not stream:
        return client.messages.create(model="claude-local", max_tokens=64, **kwargs)
    with client.messages.stream(model="claude-local", max_tokens=64, **kwargs) as s:
        return s.get_final_message()


def test_reasoning_from_the_engine_arrives_as_thinking_blocks_in_order(client, engine):
    engine.post_json("/_control", {"reasoning": True})
    whole = client.messages.create(
        model="claude-local", max_tokens=64, messages=[{"role": "user", "content": "why"}]
    )
    assert [b.type for b in whole.content] == ["thinking", "text"]
    assert whole.content[0].thinking == "Let me think."
    with client.messages.stream(
        model="claude-local", max_tokens=64, messages=[{"role": "user", "content": "why"}]
    ) as s:
        deltas = [e.delta.type for e in s if e.type == "content_block_delta"]
        final = s.get_final_message()
    assert deltas == ["thinking_delta"] * 3 + ["text_delta"] * 2
    assert [b.type for b in final.content] == ["thinking", "text"]


def test_engine_failure_inside_a_stream_is_an_anthropic_error_event(client, engine):
    engine.post_json("/_control", {"error_after_chunks": 2, "times": 1})
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model="claude-local", max_tokens=64, messages=[{"role": "user", "content": "a b c"}]
        ) as s,
    ):
        list(s)
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "api_error"
    engine.post_json("/_control", {"die_after_chunks": 2, "times": 1})
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model="claude-local", max_tokens=64, messages=[{"role": "user", "content": "a b c"}]
        ) as s,
    ):
        list(s)
    assert info.value.body["error"]["type"] == "api_error" and "gpu-a" in info.value.body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "claude-local", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "claude-local", "max_tokens": 5, "messages": []}, "messages"),
        (
            {"model": "claude-local", "max_tokens": 5, "messages": [{"role": "wizard", "content": "x"}]},
            "messages.0.role",
        ),
        (
            {
                "model": "claude-local",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text"}]}],
            },
            "messages.0.content.0.text",
        ),
        (
            {
                "model": "claude-local",
                "max_tokens": 5,
                "temperature": 3,
                "messages": [{"role": "user", "content": "x"}],
            },
            "temperature",
        ),
    ],
)
def test_malformed_requests_get_anthropic_shaped_400_naming_the_field(gateway, body, field):
    status, error = _post(gateway, "/v1/messages", body)
    assert status == 400
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(field + ":")


def test_unknown_model_is_an_anthropic_not_found_error(client):
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "not_found_error"


def test_count_tokens_estimates(client):
    result = client.messages.count_tokens(
        model="claude-local", messages=[{"role": "user", "content": "x" * 400}]
    )
    assert result.input_tokens == 100 + 4


def _post(gateway, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        gateway.url + path, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
