"""Two gateway replicas on one PostgreSQL schema share agents and memory: an agent made on
one answers on the other, what a user said on one is recalled on the other, and an erasure
through either leaves nothing on both, in-process vector indexes included. Keys, audit and
agents all live in that one schema, and both replicas create it at the same moment.
The test engine records every prompt the gateways assembled."""

from __future__ import annotations

import base64
import json
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from comox.testing.databases import database_url
from comox.testing.keys import create_key, request, wait_until
from comox.testing.processes import Proc, backend, gateway_config, start_gateway, write_config

ADMIN = "adm-" + secrets.token_urlsafe(12)
FILLER = ["How do volcanoes form?", "Why is the sky blue?", "How do bees make honey?"]


@pytest.fixture(scope="module")
def replicas(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replicas")
    schema = database_url("postgres", tmp, "replicas")
    url = next(schema)
    for name in ("master.key", "checkpoint.key"):
        (tmp / name).write_bytes(base64.b64encode(os.urandom(32)))
    config = gateway_config(backend(engine.url, ["test-model"]))
    config.update(
        store=url,
        admin_key=ADMIN,
        audit={"enabled": True, "store": url, "master_key_file": str(tmp / "master.key"),
               "checkpoint_key_file": str(tmp / "checkpoint.key")},
        agents={"enabled": True, "store": url, "embedding": "hashed", "window_turns": 2,
                "token_budget": 2000, "consolidation_interval": 0},
    )  # fmt: skip
    path = write_config(config, str(tmp))
    with ThreadPoolExecutor(2) as pool:  # both create the schema at once
        a, b = pool.map(start_gateway, [path, path])
    try:
        key = create_key(path, "acme")
        wait_until(lambda: all(request(p.port, "GET", "/v1/agents", key=key)[0] == 200 for p in (a, b)), 10)
        yield a, b, key
    finally:
        a.stop()
        b.stop()
        next(schema, None)  # drops the schema


def call(proc: Proc, key: str, method: str, path: str, body: dict | None = None) -> dict:
    status, _, raw = request(proc.port, method, path, body, key=key)
    assert status in (200, 201), raw
    return json.loads(raw)


def say(engine, proc: Proc, key: str, agent: str, user: str, text: str) -> list[dict]:
    """Send one message as `user`; the prompt the gateway assembled for it."""
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": text}], user=user,
        extra_headers={"x-comox-agent": agent},
    )  # fmt: skip
    assert reply.choices[0].message.content == "echo: " + text
    bodies = [json.loads(b) for b in engine.get_json("/_stats")["bodies"]]
    return [b["messages"] for b in bodies if b.get("model") == "test-model" and "messages" in b][-1]


def remembered(messages: list[dict]) -> str:
    """The system message with what the agent remembers ("" when nothing was)."""
    return messages[1]["content"] if messages[1]["role"] == "system" else ""


def settle(key: str, agent: str, user: str, *procs: Proc) -> None:
    """Until every replica's background jobs (embedding the exchanges) are done."""
    path = f"/v1/agents/{agent}/users/{user}"
    wait_until(lambda: all(call(p, key, "GET", path)["jobs_pending"] == 0 for p in procs), 10)


def test_what_a_user_said_on_one_replica_is_recalled_on_the_other_until_erased_there(engine, replicas):
    a, b, key = replicas
    agent = call(a, key, "POST", "/v1/agents", {"name": "Mira", "instructions": "Remember what you hear."})
    aid, user = agent["id"], "user-7"
    assert call(b, key, "GET", f"/v1/agents/{aid}")["name"] == "Mira"  # made on A, usable on B

    say(engine, a, key, aid, user, "My secret passphrase is heliotrope-42.")
    for text in FILLER:  # the passphrase leaves the window (one exchange): only memory has it now
        say(engine, a, key, aid, user, text)
    settle(key, aid, user, a)
    assert "heliotrope-42" in remembered(say(engine, a, key, aid, user, "What is my secret passphrase?"))
    on_b = say(engine, b, key, aid, user, "Remind me of my secret passphrase.")
    assert "heliotrope-42" in remembered(on_b)
    assert all("heliotrope" not in m["content"] for m in on_b[2:])  # not through the window

    memories = f"/v1/agents/{aid}/users/{user}/memories"
    note = call(a, key, "POST", memories, {"text": "Prefers green tea over coffee."})
    found = call(b, key, "GET", memories + "?q=green%20tea&limit=3")["data"]
    assert found[0]["id"] == note["id"]

    settle(key, aid, user, a, b)
    erased = call(b, key, "DELETE", f"/v1/agents/{aid}/users/{user}")["erased"]
    assert erased["turns"] == 12 and erased["memories"] == 7  # 6 exchanges embedded, 1 note
    assert call(a, key, "GET", memories)["data"] == []
    assert call(a, key, "GET", memories + "?q=secret%20passphrase%20green%20tea")["data"] == []
    details = call(a, key, "GET", f"/v1/agents/{aid}/users/{user}")
    assert details["turns"] == 0 and details["summary"] == "" and details["relations"] == []
    after = say(engine, a, key, aid, user, "What is my secret passphrase?")
    assert len(after) == 2  # persona and the new message: nothing is left

    settle(key, aid, user, a)
    fresh = call(b, key, "POST", memories, {"text": "Prefers rooibos now."})
    found = call(a, key, "GET", memories + "?q=rooibos&limit=3")["data"]
    assert [m["id"] for m in found][:1] == [fresh["id"]]  # A's index follows B's changes


def test_an_audit_erasure_on_one_replica_empties_the_subjects_memory_on_the_other(engine, replicas):
    a, b, key = replicas
    aid = call(b, key, "POST", "/v1/agents", {"name": "Io"})["id"]
    user = "user-9"
    say(engine, a, key, aid, user, "I keep my spare key under the blue flowerpot.")
    for text in FILLER:
        say(engine, a, key, aid, user, text)
    settle(key, aid, user, a)
    assert "flowerpot" in remembered(say(engine, a, key, aid, user, "Where is my spare key?"))
    settle(key, aid, user, a)

    status, _, raw = request(b.port, "DELETE", f"/admin/audit/subjects/{user}?tenant=acme", key=ADMIN)
    assert status == 200, raw
    assert call(a, key, "GET", f"/v1/agents/{aid}/users/{user}/memories")["data"] == []
    assert len(say(engine, a, key, aid, user, "Where is my spare key?")) == 2
