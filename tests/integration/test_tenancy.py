"""Tenants, keys, limits, budgets and usage end to end: CLI and admin API against a real
gateway process with a SQLite store, the official SDK as client. The last test greps every
log line, error body and usage export of the module for the secrets."""

from __future__ import annotations

import json
import secrets
import time

import openai
import pytest

from comox.testing.keys import chat, cli, create_key, request, wait_until
from comox.testing.processes import backend, gateway_config, start_gateway, write_config

ADMIN = "adm-" + secrets.token_urlsafe(16)
SEEN: list[str] = []  # every error body and export of this module, checked for secrets at the end
SECRETS: list[str] = [ADMIN]


@pytest.fixture(scope="module")
def setup(engine, tmp_path_factory):
    config = gateway_config(backend(engine.url, ["test-model", "embed-model"]))
    config.update(store=f"sqlite:///{tmp_path_factory.mktemp('tenancy')}/comox.db", admin_key=ADMIN)
    path = write_config(config, str(tmp_path_factory.mktemp("cfg")))
    proc = start_gateway(path)
    yield proc, path
    proc.stop()


@pytest.fixture
def gateway(setup):
    return setup[0]


def new_key(setup, tenant: str = "acme", *options: str) -> str:
    proc, path = setup
    key = create_key(path, tenant, *options)
    SECRETS.append(key)
    wait_until(lambda: request(proc.port, "GET", "/v1/models", key=key)[0] == 200, timeout=2)
    return key


def error(status_headers_body, status: int, code: str) -> dict:
    got, _, body = status_headers_body
    SEEN.append(body.decode())
    assert got == status, body
    err = json.loads(body)["error"]
    assert err["code"] == code, err
    return err


def admin(gateway, method: str, path: str, body=None, key: str = ADMIN):
    return request(gateway.port, method, path, body, key)


def test_sdk_with_a_key_gets_answers_and_streams_without_the_gateways_usage_event(setup):
    key = new_key(setup)
    client = openai.OpenAI(base_url=setup[0].url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "echo: hi"
    chunks = list(
        client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "a b"}], stream=True
        )
    )
    assert all(c.usage is None for c in chunks)  # asked for by the gateway, stripped from the client
    assert [m.id for m in client.models.list()] == ["embed-model", "test-model"]


def test_requests_without_a_valid_key_are_401_before_the_body_is_even_read(gateway):
    err = error(request(gateway.port, "POST", "/v1/chat/completions", b"{not json"), 401, "missing_api_key")
    assert "Authorization: Bearer" in err["message"]
    error(chat(gateway.port, "ck-" + "A" * 43), 401, "invalid_api_key")
    error(request(gateway.port, "GET", "/v1/models"), 401, "missing_api_key")
    status, headers, _ = chat(gateway.port, None)
    assert status == 401 and headers["www-authenticate"] == "Bearer"


def test_revoked_and_expired_keys_are_refused_saying_which(setup):
    gateway, path = setup
    key = new_key(setup, "acme", "--expires-in", "1.5")
    assert chat(gateway.port, key)[0] == 200
    wait_until(lambda: chat(gateway.port, key)[0] == 401, timeout=3)
    error(chat(gateway.port, key), 401, "expired_api_key")
    key = new_key(setup)
    key_id = json.loads(cli("keys", "list", "--config", path, "--json"))[-1]["id"]
    cli("keys", "revoke", key_id, "--config", path)
    wait_until(lambda: chat(gateway.port, key)[0] == 401, timeout=1)
    assert key_id in error(chat(gateway.port, key), 401, "revoked_api_key")["message"]


def test_key_policy_limits_models_and_max_tokens(setup):
    key = new_key(setup, "acme", "--models", "embed-*", "--max-tokens", "8")
    err = error(chat(setup[0].port, key), 403, "model_not_allowed")
    assert "embed-*" in err["message"]
    _, _, body = request(setup[0].port, "GET", "/v1/models", key=key)
    assert [m["id"] for m in json.loads(body)["data"]] == ["embed-model"]
    key = new_key(setup, "acme", "--max-tokens", "8")
    error(chat(setup[0].port, key, max_tokens=9), 400, "max_tokens_exceeded")
    assert chat(setup[0].port, key, max_tokens=8)[0] == 200


def test_rate_limit_is_429_with_retry_after_and_openai_headers(setup):
    key = new_key(setup, "limited", "--rpm", "3")
    statuses = []
    for _ in range(3):
        status, headers, _ = chat(setup[0].port, key)
        statuses.append(status)
    assert statuses == [200, 200, 200]
    assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-remaining-requests"] == "0"
    refused = chat(setup[0].port, key)
    err = error(refused, 429, "rate_limit_exceeded")
    assert "3 requests per minute" in err["message"]
    assert 1 <= int(refused[1]["retry-after"]) <= 60
    assert refused[1]["x-ratelimit-remaining-requests"] == "0"


def test_token_budget_counts_streamed_usage_and_then_refuses_saying_when_it_resets(setup):
    key = new_key(setup, "budgeted", "--token-budget", "10", "--budget-period", "day")
    assert chat(setup[0].port, key, stream=True)[0] == 200  # usage from the stream's last event
    assert chat(setup[0].port, key)[0] == 200
    err = error(chat(setup[0].port, key), 429, "budget_exceeded")
    assert "daily token budget of key" in err["message"] and "resets at" in err["message"]


def test_usage_is_exported_per_key_as_csv_by_api_and_cli(setup):
    gateway, path = setup
    key = new_key(setup, "metered")
    for _ in range(2):
        assert chat(gateway.port, key)[0] == 200
    key_id = json.loads(cli("keys", "list", "--config", path, "--tenant", "metered", "--json"))[0]["id"]

    def exported() -> list[str]:
        _, headers, body = admin(gateway, "GET", "/admin/usage?tenant=metered&format=csv")
        SEEN.append(body.decode())
        assert headers["content-type"].startswith("text/csv")
        return body.decode().splitlines()

    wait_until(lambda: len(exported()) == 2, timeout=3)
    header, row = exported()
    assert header.startswith("day,tenant,key_id,model,backend,requests")
    assert row.split(",")[1:7] == ["metered", key_id, "test-model", "gpu-a", "2", "0"]
    csv = cli("usage", "--config", path, "--tenant", "metered")
    SEEN.append(csv)
    assert csv.splitlines()[1] == row


def test_admin_api_creates_lists_and_revokes_and_explains_bad_input(gateway):
    error(admin(gateway, "GET", "/admin/keys", key="wrong"), 401, "invalid_admin_key")
    error(admin(gateway, "GET", "/admin/keys", key=None), 401, "invalid_admin_key")
    assert admin(gateway, "POST", "/admin/tenants", {"name": "globex", "rpm": 100})[0] == 201
    error(admin(gateway, "POST", "/admin/tenants", {"name": "globex"}), 409, "conflict")
    error(admin(gateway, "POST", "/admin/keys", {"tenant": "nobody"}), 404, "not_found")
    assert (
        error(
            admin(gateway, "POST", "/admin/keys", {"tenant": "globex", "rpm": "many"}), 400, "invalid_request"
        )["param"]
        == "rpm"
    )
    assert (
        error(
            admin(gateway, "POST", "/admin/keys", {"tenant": "globex", "colour": 1}), 400, "invalid_request"
        )["param"]
        == "colour"
    )
    error(admin(gateway, "POST", "/admin/keys", b"{oops"), 400, "invalid_json")
    error(admin(gateway, "DELETE", "/admin/keys/key_nope"), 404, "not_found")
    error(admin(gateway, "GET", "/admin/usage?tenant=nobody"), 404, "not_found")
    error(admin(gateway, "GET", "/admin/usage?since=yesterday"), 400, "invalid_request")
    status, _, body = admin(gateway, "POST", "/admin/keys", {"tenant": "globex", "models": ["test-*"]})
    created = json.loads(body)
    SECRETS.append(created["key"])
    assert status == 201 and created["key"].startswith("ck-") and "hash" not in created
    assert chat(gateway.port, created["key"])[0] == 200  # this worker reloads at once
    listed = json.loads(admin(gateway, "GET", "/admin/keys?tenant=globex")[2])["data"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert json.loads(admin(gateway, "DELETE", f"/admin/keys/{created['id']}")[2])["revoked_at"] > 0
    error(chat(gateway.port, created["key"]), 401, "revoked_api_key")


def test_secrets_never_appear_in_logs_errors_or_usage_exports(gateway):
    time.sleep(0.2)
    assert len(SECRETS) > 5 and SEEN
    haystacks = {"gateway log": "".join(gateway.log), **{f"response {i}": s for i, s in enumerate(SEEN)}}
    for name, text in haystacks.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into the {name}"
