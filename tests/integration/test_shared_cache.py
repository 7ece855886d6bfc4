"""Two gateway replicas sharing one cache through Redis (`cache.redis`): an answer stored by
one is served by the other, exactly and by meaning (the real packaged embedding model),
never across tenants, and an erasure made through either holds for both at once."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from urllib.parse import quote

import pytest

from comox.testing.databases import REDIS_URL, redis_prefix
from comox.testing.keys import create_key, request, wait_until
from comox.testing.processes import backend, gateway_config, start_gateway, write_config
from tests.integration.cache_client import ask, engine_requests

ADMIN = "adm-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def replicas(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shared-cache")
    prefixes = redis_prefix("shared-cache")
    prefix = next(prefixes)
    (tmp / "master.key").write_bytes(base64.b64encode(os.urandom(32)))
    config = gateway_config(backend(engine.url, ["test-model"]))
    config.update(
        store=f"sqlite:///{tmp}/comox.db",
        admin_key=ADMIN,
        audit={
            "enabled": True,
            "store": f"sqlite:///{tmp}/audit.db",
            "master_key_file": str(tmp / "master.key"),
        },
        cache={"enabled": True, "redis": REDIS_URL, "redis_prefix": prefix, "semantic": {"enabled": True}},
    )
    path = write_config(config, str(tmp))
    procs = [start_gateway(path), start_gateway(path)]
    keys = {t: create_key(path, t) for t in ("acme", "globex")}
    for proc in procs:
        for key in keys.values():
            wait_until(lambda p=proc, k=key: request(p.port, "GET", "/v1/models", key=k)[0] == 200, timeout=5)
    yield procs, keys
    for proc in procs:
        proc.stop()
    next(prefixes, None)  # deletes the prefix's keys


def test_an_answer_stored_by_one_replica_is_served_by_the_other(replicas, engine):
    (a, b), keys = replicas
    assert ask(a, keys["acme"], "Tell me a joke about otters.")[0] == "miss"
    time.sleep(0.2)  # stored behind the answer
    before = engine_requests(engine)
    kind, text = ask(b, keys["acme"], "Tell me a joke about otters.")
    assert kind == "hit-exact" and text == "echo: Tell me a joke about otters."
    assert engine_requests(engine) == before


def test_a_paraphrase_on_the_other_replica_is_a_semantic_hit(replicas, engine):
    (a, b), keys = replicas
    assert ask(a, keys["acme"], "What is the capital of France?")[0] == "miss"
    before = engine_requests(engine)
    deadline = time.monotonic() + 5.0
    while True:  # b learns a's vector from the announcement stream within moments
        kind, text = ask(b, keys["acme"], "Which city is France's capital?")
        if kind == "hit-semantic" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert kind == "hit-semantic" and text == "echo: What is the capital of France?"
    misses = engine_requests(engine) - before
    assert ask(b, keys["acme"], "How do I bake sourdough bread?")[0] == "miss"
    assert engine_requests(engine) == before + misses + 1


def test_tenants_never_share_answers_across_replicas(replicas):
    (a, b), keys = replicas
    ask(a, keys["acme"], "Name three prime numbers.")
    time.sleep(0.2)
    assert ask(b, keys["globex"], "Name three prime numbers.")[0] == "miss"
    assert ask(b, keys["acme"], "Name three prime numbers.")[0] == "hit-exact"


def test_an_erasure_through_one_replica_holds_on_the_other_at_once(replicas):
    (a, b), keys = replicas
    ask(a, keys["acme"], "Remind me of my dentist appointment.", x_comox_subject="jane")
    time.sleep(0.2)
    assert ask(a, keys["acme"], "Remind me of my dentist appointment.")[0] == "hit-exact"
    status, _, body = request(b.port, "DELETE", "/admin/audit/subjects/" + quote("jane"), key=ADMIN)
    assert status == 200 and json.loads(body)["erased_cached"] == 1
    assert ask(a, keys["acme"], "Remind me of my dentist appointment.")[0] == "miss"


def test_the_shared_cache_is_in_the_metrics(replicas):
    (a, _), _ = replicas
    status, _, body = request(a.port, "GET", "/metrics")
    text = body.decode()
    assert status == 200 and "comox_cache_shared_errors_total 0" in text
    assert 'comox_cache_lookups_total{result="miss"}' in text
