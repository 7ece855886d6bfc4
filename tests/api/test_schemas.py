import pytest

from comox.api.openai import schemas
from comox.server.errors import GatewayError

MSG = [{"role": "user", "content": "hi"}]


def refused(validate, payload) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        validate(payload)
    assert info.value.status == 400
    return info.value


def test_valid_chat_passes_with_engine_specific_fields():
    schemas.validate_chat({"model": "m", "messages": MSG, "top_k": 5, "guided_json": {}, "stream": True})


def test_assistant_tool_call_message_may_omit_content():
    messages = [*MSG, {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}]
    schemas.validate_chat({"model": "m", "messages": messages})


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"messages": MSG}, "model"),
        ({"model": "", "messages": MSG}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": MSG, "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": MSG, "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": MSG, "top_p": 1.5}, "top_p"),
        ({"model": "m", "messages": MSG, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": MSG, "stop": [1]}, "stop"),
        ({"model": "m", "messages": MSG, "stream_options": {"include_usage": True}}, "stream_options"),
    ],
)
def test_chat_errors_name_the_field(payload, param):
    assert refused(schemas.validate_chat, payload).param == param


def test_completion_prompt_forms():
    for prompt in ("text", ["a", "b"], [1, 2, 3], [[1, 2], [3]]):
        schemas.validate_completion({"model": "m", "prompt": prompt})
    assert refused(schemas.validate_completion, {"model": "m", "prompt": [1, "a"]}).param == "prompt"
    assert refused(schemas.validate_completion, {"model": "m"}).param == "prompt"


def test_embedding_checks():
    schemas.validate_embedding({"model": "m", "input": ["a"], "dimensions": 8, "encoding_format": "float"})
    assert refused(schemas.validate_embedding, {"model": "m", "input": []}).param == "input"
    bad_format = {"model": "m", "input": "a", "encoding_format": "hex"}
    assert refused(schemas.validate_embedding, bad_format).param == "encoding_format"
