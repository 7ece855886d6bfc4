"""Golden translations: each content, tool, stop and usage case, both directions."""

from __future__ import annotations

import orjson
import pytest

from comox.server.errors import GatewayError
from comox.translate import anthropic_to_openai, openai_to_anthropic, responses, vocab

TOOL = {"name": "lookup", "description": "find", "input_schema": {"type": "object", "properties": {"q": {}}}}
FUNCTION = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {}}},
        "description": "find",
    },
}


def test_anthropic_request_maps_system_content_tools_and_sampling():
    request = {
        "model": "m",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": "be kind"}],
        "temperature": 0.5,
        "top_k": 5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
        "tools": [TOOL],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "cats"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "3 cats"}],
                    },
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
    }
    assert anthropic_to_openai.request(request) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief\nbe kind"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": "calling",
                "tool_calls": [
                    {
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q":"cats"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "3 cats"},
            {"role": "user", "content": "thanks"},
        ],
        "max_tokens": 64,
        "temperature": 0.5,
        "top_k": 5,
        "stop": ["END"],
        "tools": [FUNCTION],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "u1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "any"}, "required"),
        ({"type": "tool", "name": "lookup"}, {"type": "function", "function": {"name": "lookup"}}),
    ],
)
def test_tool_choice_maps_both_ways(choice, expected):
    base = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [TOOL]}
    chat = anthropic_to_openai.request({**base, "tool_choice": choice})
    assert chat["tool_choice"] == expected
    assert openai_to_anthropic.request(chat)["tool_choice"] == choice


def test_openai_request_hoists_system_merges_tool_results_and_defaults_max_tokens():
    chat = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
                    {"id": "b", "type": "function", "function": {"name": "f", "arguments": "not json"}},
                ],
            },
            {"role": "tool", "tool_call_id": "a", "content": "one"},
            {"role": "tool", "tool_call_id": "b", "content": "two"},
            {"role": "user", "content": [{"type": "text", "text": "and?"}]},
        ],
        "temperature": 1.7,
        "stop": "STOP",
        "user": "me",
    }
    assert openai_to_anthropic.request(chat) == {
        "model": "m",
        "system": "sys",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "a", "name": "f", "input": {"x": 1}},
                    {"type": "tool_use", "id": "b", "name": "f", "input": {"_arguments": "not json"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": "one"},
                    {"type": "tool_result", "tool_use_id": "b", "content": "two"},
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
        "max_tokens": vocab.DEFAULT_MAX_TOKENS,
        "temperature": 1.0,
        "stop_sequences": ["STOP"],
        "metadata": {"user_id": "me"},
    }


def test_unsupported_fields_are_400_naming_the_field():
    with pytest.raises(GatewayError) as info:
        openai_to_anthropic.request({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]})
    assert info.value.status == 400 and info.value.param == "n"
    with pytest.raises(GatewayError) as info:
        anthropic_to_openai.request(
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web"}],
            }
        )
    assert info.value.param == "tools.0"
    with pytest.raises(GatewayError) as info:
        responses.request({"model": "m", "input": "x", "previous_response_id": "resp_1"})
    assert info.value.param == "previous_response_id"


@pytest.mark.parametrize(
    ("finish", "matched", "stop", "expected"),
    [
        ("stop", None, None, ("end_turn", None)),
        ("stop", "END", ["END"], ("stop_sequence", "END")),
        ("length", None, None, ("max_tokens", None)),
        ("tool_calls", None, None, ("tool_use", None)),
        ("content_filter", None, None, ("refusal", None)),
        ("stop", 128001, None, ("end_turn", None)),  # vLLM's stop token id: an ordinary end
    ],
)
def test_stop_reasons(finish, matched, stop, expected):
    assert vocab.anthropic_stop(finish, matched, stop) == expected
    assert vocab.openai_stop(expected[0]) == finish


def test_usage_maps_cache_reads_both_ways():
    openai_usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    anthropic = vocab.anthropic_usage(openai_usage)
    assert anthropic == {"input_tokens": 40, "output_tokens": 7, "cache_read_input_tokens": 60}
    assert vocab.openai_usage(anthropic) == {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 60},
    }


def test_chat_answer_to_anthropic_keeps_reasoning_text_and_tools_in_order():
    completion = {
        "id": "chatcmpl-1",
        "model": "engine",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": "think",
                    "content": "let me look",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    assert openai_to_anthropic.response(completion, "public") == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "public",
        "content": [
            {"type": "thinking", "thinking": "think", "signature": ""},
            {"type": "text", "text": "let me look"},
            {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }


def test_anthropic_answer_to_chat():
    message = {
        "id": "msg_9",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"q": "x"}},
        ],
        "stop_reason": "stop_sequence",
        "stop_sequence": "END",
        "usage": {"input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 4},
    }
    chat = anthropic_to_openai.response(message, "public", created=1)
    assert chat == {
        "id": "chatcmpl-msg_9",
        "object": "chat.completion",
        "created": 1,
        "model": "public",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "hi",
                    "reasoning_content": "hm",
                    "tool_calls": [
                        {"id": "t", "type": "function", "function": {"name": "f", "arguments": '{"q":"x"}'}}
                    ],
                },
                "finish_reason": "stop",
                "logprobs": None,
                "stop_reason": "END",
            }
        ],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": 2,
            "total_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def test_responses_request_maps_items_tools_and_format():
    request = {
        "model": "m",
        "instructions": "sys",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "rain"},
        ],
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "function", "name": "weather"},
        "max_output_tokens": 50,
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
        "reasoning": {"effort": "low"},
    }
    assert responses.request(request) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "rain"},
        ],
        "max_tokens": 50,
        "tools": [
            {
                "type": "function",
                "function": {"name": "weather", "parameters": {"type": "object"}, "strict": True},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}},
        },
        "reasoning_effort": "low",
    }


def test_chat_answer_to_response_object():
    completion = {
        "created": 5,
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "reasoning_content": "r",
                    "content": "partial",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
                },
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3},
    }
    out = responses.response(completion, {"model": "m", "input": "x"}, "m")
    assert [item["type"] for item in out["output"]] == ["reasoning", "message", "function_call"]
    assert out["output"][0]["content"] == [{"type": "reasoning_text", "text": "r"}]
    assert out["output"][1]["content"][0]["text"] == "partial"
    assert out["output"][2]["call_id"] == "c"
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["usage"]["total_tokens"] == 5
    orjson.dumps(out)
