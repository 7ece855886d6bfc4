"""The OpenAI-compatible API end to end: the official SDK against the gateway process,
which proxies to the test engine process, all over loopback."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from comox.testing.processes import backend, gateway_config, start_gateway


@pytest.fixture(scope="module")
def gateway(engine):
    config = gateway_config(
        backend(engine.url, {"llama-3-8b": "test-model", "test-model": "test-model", "e5": "embed-model"})
    )
    proc = start_gateway(config)
    yield proc
    proc.stop()


@pytest.fixture
def client(gateway, engine) -> openai.OpenAI:
    engine.post_json("/_control/reset", {})
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=20)


def test_chat_completion_returns_engine_answer_under_public_model_name(client, engine):
    reply = client.chat.completions.create(
        model="llama-3-8b", messages=[{"role": "user", "content": "hello from the sdk"}]
    )
    assert reply.choices[0].message.content == "echo: hello from the sdk"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == 5
    sent = engine.get_json("/_stats")["last_request"]
    assert sent["body"]["model"] == "test-model"  # public name mapped to the engine's name
    assert sent["path"] == "/v1/chat/completions"


def test_chat_stream_arrives_chunk_by_chunk_with_the_full_text(client):
    stream = client.chat.completions.create(
        model="llama-3-8b",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three four"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 5
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_unchanged_model_name_forwards_the_body_byte_for_byte(gateway, engine):
    body = b'{"model": "test-model",  "messages": [{"role": "user", "content": "raw"}], "top_k": 3}'
    req = urllib.request.Request(
        gateway.url + "/v1/chat/completions", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["choices"][0]["message"]["content"] == "echo: raw"
    assert engine.get_json("/_stats")["last_request"]["body"]["top_k"] == 3


def test_completions_stream_and_whole(client):
    whole = client.completions.create(model="test-model", prompt="complete this", max_tokens=2)
    assert whole.choices[0].text == "echo: complete"
    assert whole.choices[0].finish_reason == "length"
    streamed = client.completions.create(model="test-model", prompt="complete this", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "echo: complete this"


def test_embeddings_come_back_with_the_requested_dimensions(client):
    result = client.embeddings.create(model="e5", input=["first text", "second text"], dimensions=8)
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding


def test_models_lists_public_names_and_retrieves_one(client):
    names = sorted(m.id for m in client.models.list())
    assert names == ["e5", "llama-3-8b", "test-model"]
    assert client.models.retrieve("llama-3-8b").id == "llama-3-8b"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_unknown_model_is_404_naming_the_available_models(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    error = info.value.body
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "llama-3-8b" in error["message"] and "e5" in error["message"]


def test_missing_and_invalid_fields_are_400_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="test-model", messages=[])
    assert info.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "x"}], temperature=7
        )
    assert info.value.body["param"] == "temperature"
    assert "0 to 2" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="test-model", messages=[{"role": "wizard", "content": "x"}])
    assert info.value.body["param"] == "messages[0].role"


def test_engine_errors_pass_through_in_openai_shape(client, engine):
    engine.post_json("/_control", {"fail_status": 500, "times": 1})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "x"}])
    assert isinstance(info.value.body, dict) and "message" in info.value.body
    engine.post_json("/_control", {"fail_status": 503, "fail_body": "<html>overloaded</html>", "times": 1})
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503
    assert "overloaded" in info.value.body["message"] and "gpu-a" in info.value.body["message"]


def test_usage_asked_for_a_stream_is_spliced_into_the_clients_bytes_and_kept_from_the_client(gateway, engine):
    """Metrics need the stream's token counts: the gateway adds stream_options.include_usage
    to the body (without re-encoding the rest) and cuts the usage event from the answer."""
    body = (
        b' {"model": "test-model",  "messages": [{"role": "user", "content": "raw bytes"}], "stream": true}'
    )
    req = urllib.request.Request(
        gateway.url + "/v1/chat/completions", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        events = resp.read()
    chunks = [json.loads(line[6:]) for line in events.split(b"\n\n") if line.startswith(b"data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "echo: raw bytes"
    assert b'"usage"' not in events and events.endswith(b"data: [DONE]\n\n")
    sent = engine.get_json("/_stats")["bodies"][-1].encode()
    assert sent == b' {"stream_options":{"include_usage":true},' + body[2:]
    explicit_null = body.replace(b'"stream": true', b'"stream": true, "stream_options": null')
    with urllib.request.urlopen(
        urllib.request.Request(
            gateway.url + "/v1/chat/completions", explicit_null, {"content-type": "application/json"}
        ),
        timeout=10,
    ) as resp:
        assert b'"usage"' not in resp.read()
    assert json.loads(engine.get_json("/_stats")["bodies"][-1])["stream_options"] == {"include_usage": True}
