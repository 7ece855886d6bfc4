"""Residency and redaction end to end: a gateway process in front of two test engines, one
run by us (local, EU) and one by an external operator (cloud, EU). Every body the engines
receive is searched for the personal data the clients sent."""

from __future__ import annotations

import json
import secrets

import openai
import pytest

from comox.testing.keys import cli, create_key, request, wait_until
from comox.testing.processes import backend, gateway_config, start_engine, start_gateway, write_config

ADMIN = "adm-" + secrets.token_urlsafe(12)
PII = ["jane.doe@example.org", "+33 6 12 34 56 78", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00"]
SOVEREIGNTY = {
    "classes": {
        "public": {"level": 0},
        "personal": {"level": 1, "jurisdictions": ["EU"], "redact": "external"},
        "restricted": {"level": 2, "operators": ["self"], "cloud": False},
    },
    "default_class": "public",
    "pii_class": "personal",
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    local, external = start_engine("--model", "loc"), start_engine("--model", "ext", "--model", "both")
    us = start_engine("--model", "both")
    config = gateway_config(
        backend(local.url, ["loc", "both"], name="eu-self", jurisdiction="EU"),
        backend(
            external.url, ["ext", "both"], name="eu-acme", jurisdiction="EU", tier="cloud", operator="acme"
        ),
        backend(us.url, ["both"], name="us-self", jurisdiction="US"),
        routing={"health": {"enabled": False}, "scrape": {"enabled": False}},
    )
    config.update(
        sovereignty=SOVEREIGNTY,
        admin_key=ADMIN,
        store=f"sqlite:///{tmp_path_factory.mktemp('sov')}/comox.db",
    )
    path = write_config(config, str(tmp_path_factory.mktemp("cfg")))
    gateway = start_gateway(path)
    key = create_key(path, "acme")
    wait_until(lambda: request(gateway.port, "GET", "/v1/models", key=key)[0] == 200, timeout=3)
    yield gateway, local, external, us, path, key
    for proc in (gateway, local, external, us):
        proc.stop()


@pytest.fixture
def client(fleet) -> openai.OpenAI:
    for engine in fleet[1:4]:
        engine.post_json("/_stats/reset", {})
        engine.post_json("/_control/reset", {})
    return openai.OpenAI(base_url=fleet[0].url + "/v1", api_key=fleet[5], max_retries=0, timeout=20)


def bodies(engine) -> list[str]:
    return engine.get_json("/_stats")["bodies"]


def text_with_pii() -> str:
    return "contact " + " or ".join(PII) + " please"


@pytest.mark.parametrize("token_chars", [None, 1, 3])
def test_pii_never_reaches_a_backend_that_requires_redaction_and_the_client_gets_it_back(
    fleet, client, token_chars
):
    external = fleet[2]
    fake = {"fake": {"token_chars": token_chars}} if token_chars else {}
    messages = [{"role": "user", "content": text_with_pii()}]
    whole = client.chat.completions.with_raw_response.create(model="ext", messages=messages, extra_body=fake)
    assert whole.headers["x-comox-data-class"] == "personal" and whole.headers["x-comox-redacted"] == "4"
    assert whole.parse().choices[0].message.content == "echo: " + text_with_pii()
    stream = client.chat.completions.create(model="ext", messages=messages, stream=True, extra_body=fake)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "echo: " + text_with_pii()
    text = client.completions.create(model="ext", prompt=text_with_pii(), stream=True, extra_body=fake)
    assert "".join(c.choices[0].text for c in text) == "echo: " + text_with_pii()
    seen = bodies(external)
    assert len(seen) == 3 and all("<EMAIL_1>" in b for b in seen)
    assert not any(value in body for value in PII for body in seen)
    if token_chars:  # what the gateway had to restore: placeholders split across events
        direct = {
            "model": "ext",
            "messages": [{"role": "user", "content": "<EMAIL_1>"}],
            "stream": True,
            **fake,
        }
        status, _, raw = request(external.port, "POST", "/v1/chat/completions", direct)
        pieces = [
            json.loads(e[6:])["choices"][0]["delta"].get("content") for e in raw.split(b"\n\n")[:-2] if e
        ]
        assert (
            status == 200
            and "<EMAIL_1>" not in pieces
            and "".join(filter(None, pieces)).endswith("<EMAIL_1>")
        )


def test_a_backend_operated_by_us_sees_the_data_as_sent(fleet, client):
    reply = client.chat.completions.create(
        model="loc", messages=[{"role": "user", "content": text_with_pii()}]
    )
    assert reply.choices[0].message.content == "echo: " + text_with_pii()
    assert all(value in bodies(fleet[1])[-1] for value in PII)


def test_a_class_allowed_nowhere_for_the_model_is_refused_with_class_model_and_rule(fleet, client):
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.chat.completions.create(
            model="ext",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-comox-data-class": "restricted"},
        )
    message = err.value.body["message"]
    assert "'restricted'" in message and "'ext'" in message and "operators self; no cloud" in message
    assert bodies(fleet[2]) == []


def test_an_unknown_class_is_a_400_naming_the_known_classes(fleet, client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="loc",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-comox-data-class": "secret"},
        )
    assert "known classes: public, personal, restricted" in err.value.body["message"]


def test_failover_never_leaves_the_allowed_backends(fleet, client):
    local, external, us = fleet[1:4]
    local.post_json("/_control", {"fail_status": 503})
    external.post_json("/_control", {"fail_status": 503})
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="both", messages=[{"role": "user", "content": "mail " + PII[0]}])
    assert err.value.status_code == 503
    assert bodies(us) == []  # personal data must stay in the EU, even when every EU engine fails
    assert len(bodies(local)) + len(bodies(external)) >= 2


def test_policy_explain_and_admin_policy_agree(fleet):
    gateway, path = fleet[0], fleet[4]
    status, _, body = request(gateway.port, "GET", "/admin/policy", key=ADMIN)
    assert status == 200
    report = json.loads(body)
    personal = next(f for f in report["flows"] if f["class"] == "personal")
    assert personal == json.loads(cli("policy", "explain", "--config", path, "--class", "personal", "--json"))
    assert personal["jurisdictions"] == ["EU"] and personal["operators"] == ["acme", "self"]
    page = cli("policy", "explain", "--config", path, "--class", "personal")
    assert page.startswith("Data of class 'personal' may be processed by 2 of 3 backends, only in EU")
    assert "before it reaches eu-acme" in page
    assert request(gateway.port, "GET", "/admin/policy")[0] == 401
