"""The Responses API end to end: the openai SDK's responses.create against the gateway, with the
OpenAI-compatible chat test engine behind it (translated to chat completions)."""

from __future__ import annotations

import json

import openai
import pytest

from comox.testing.processes import backend, gateway_config, start_gateway

TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]


@pytest.fixture(scope="module")
def gateway(engine):
    proc = start_gateway(gateway_config(backend(engine.url, {"coder": "test-model"})))
    yield proc
    proc.stop()


@pytest.fixture
def client(gateway, engine) -> openai.OpenAI:
    engine.post_json("/_control/reset", {})
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=20)


def test_response_with_instructions_and_usage(client, engine):
    response = client.responses.create(model="coder", instructions="Be terse.", input="hello responses")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == "echo: hello responses"
    assert response.usage.output_tokens == 3 and response.usage.total_tokens > 3
    sent = engine.get_json("/_stats")["last_request"]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"][0] == {"role": "system", "content": "Be terse."}


def test_stream_has_typed_events_in_order(client):
    events = list(client.responses.create(model="coder", input="one two", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: one two"
    assert events[-1].response.output_text == "echo: one two"


def test_max_output_tokens_makes_the_response_incomplete(client):
    response = client.responses.create(model="coder", input="a b c d", max_output_tokens=2)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize("stream", [False, True])
def test_function_call_round_trip(client, engine, stream):
    first = _create(client, stream, input=[{"role": "user", "content": "find otters"}], tools=TOOLS)
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "lookup" and json.loads(call.arguments) == {"query": "find otters"}
    second = _create(
        client,
        stream,
        tools=TOOLS,
        input=[
            {"role": "user", "content": "find otters"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "otters are mustelids"},
        ],
    )
    assert second.output_text == "echo: otters are mustelids"
    sent = engine.get_json("/_stats")["last_request"]["body"]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "otters are mustelids"}


def _create(client, stream: bool, **kwargs):
    if not stream:
        return client.responses.create(model="coder", **kwargs)
    events = list(client.responses.create(model="coder", stream=True, **kwargs))
    assert events[-1].type == "response.completed"
    return events[-1].response


def test_reasoning_comes_as_a_reasoning_item_before_the_message(client, engine):
    engine.post_json("/_control", {"reasoning": True})
    response = client.responses.create(model="coder", input="why")
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].content[0].text == "Let me think."
    events = list(client.responses.create(model="coder", input="why", stream=True))
    kinds = [e.type for e in events if e.type.endswith(".delta")]
    assert kinds == ["response.reasoning_text.delta"] * 3 + ["response.output_text.delta"] * 2


def test_stateful_fields_and_builtin_tools_are_refused_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="coder", input="x", previous_response_id="resp_123")
    assert info.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="coder", input="x", tools=[{"type": "web_search"}])
    assert info.value.body["param"] == "tools[0].type"


def test_engine_failure_inside_a_stream_is_an_error_event(client, engine):
    engine.post_json("/_control", {"die_after_chunks": 2, "times": 1})
    events = list(client.responses.create(model="coder", input="a b c", stream=True))
    assert events[-1].type == "error" and "gpu-a" in events[-1].message
