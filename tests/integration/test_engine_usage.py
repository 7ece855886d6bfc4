"""Streams from an engine that sends no usage chunk (TGI): the test engine is told to ignore
`stream_options.include_usage`, the backend is declared `engine: tgi`, and the official
openai SDK is the client."""

from __future__ import annotations

import openai
import pytest

from comox.testing.keys import request
from comox.testing.processes import backend, gateway_config, start_gateway


@pytest.fixture(scope="module")
def gateway(engine):
    proc = start_gateway(gateway_config(backend(engine.url, ["test-model"], engine="tgi")))
    yield proc
    proc.stop()


@pytest.fixture
def client(gateway, engine) -> openai.OpenAI:
    engine.post_json("/_control/reset", {})
    engine.post_json("/_control", {"stream_usage": False})
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=20)


def ask_stream(client, **extra):
    return list(
        client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": "one two three four five"}],
            stream=True,
            **extra,
        )
    )


def test_a_client_asking_for_usage_gets_counted_tokens_before_done(client, engine):
    chunks = ask_stream(client, stream_options={"include_usage": True})
    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.completion_tokens == len(text_chunks) and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.model_extra.get("estimated") is True
    sent = engine.get_json("/_stats")["last_request"]["body"]
    assert "stream_options" not in sent  # the engine is not asked for what it does not do


def test_a_client_not_asking_gets_no_usage_chunk_yet_the_tokens_are_counted(client, gateway):
    before = _output_tokens(gateway)
    chunks = ask_stream(client)
    assert all(c.usage is None for c in chunks)
    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert _output_tokens(gateway) == before + len(text_chunks)


def test_whole_answers_pass_through_with_the_engines_own_usage(client):
    answer = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "one two three"}]
    )
    assert answer.usage.completion_tokens > 0 and "estimated" not in (answer.usage.model_extra or {})


def _output_tokens(gateway) -> int:
    status, _, body = request(gateway.port, "GET", "/metrics")
    assert status == 200
    total = 0
    for line in body.decode().splitlines():
        if line.startswith("comox_tokens_total{") and 'type="output"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total
