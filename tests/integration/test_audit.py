"""The audit log end to end: real gateway processes, the CLI and the admin API.

One record per request, refused ones included; tenants read only their own; erasure
shreds one subject's content and nothing else; and a gateway killed with SIGKILL under
concurrent load has a record of every answer a client fully received."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from comox.testing.databases import database_url
from comox.testing.keys import chat, cli, create_key, request, wait_until
from comox.testing.processes import backend, gateway_config, start_gateway, write_config

ADMIN = "adm-" + secrets.token_urlsafe(12)


def audit_config(engine, tmp: Path, store: str | None = None, **audit) -> tuple[dict, Path]:
    (tmp / "master.key").write_bytes(base64.b64encode(os.urandom(32)))
    (tmp / "checkpoint.key").write_bytes(base64.b64encode(os.urandom(32)))
    config = gateway_config(backend(engine.url, ["test-model"]))
    config.update(
        store=f"sqlite:///{tmp}/comox.db",
        admin_key=ADMIN,
        audit={
            "enabled": True,
            "store": store or f"sqlite:///{tmp}/audit.db",
            "master_key_file": str(tmp / "master.key"),
            "checkpoint_key_file": str(tmp / "checkpoint.key"),
            "checkpoint_every": 10,
            **audit,
        },
    )
    return config, write_config(config, str(tmp))


@pytest.fixture(scope="module")
def setup(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    _, path = audit_config(engine, tmp, content_by_tenant={"acme": "full"}, jsonl=str(tmp / "audit.jsonl"))
    proc = start_gateway(path)
    keys = {t: create_key(path, t) for t in ("acme", "globex")}
    wait_until(lambda: all(chat(proc.port, k)[0] == 200 for k in keys.values()), timeout=3)
    yield proc, path, keys, tmp
    proc.stop()


def admin_search(proc, query: str = "") -> list[dict]:
    status, _, body = request(proc.port, "GET", "/admin/audit?limit=1000&" + query, key=ADMIN)
    assert status == 200, body
    return json.loads(body)["data"]


def by_request_id(proc, request_id: str) -> dict:
    wait_until(lambda: any(r["request_id"] == request_id for r in admin_search(proc)), timeout=2)
    return next(r for r in admin_search(proc) if r["request_id"] == request_id)


def test_answers_streams_and_refusals_each_get_one_record(setup):
    proc, _, keys, _ = setup
    before = len(admin_search(proc))
    status, headers, _ = chat(proc.port, keys["acme"], user="u-1")
    record = by_request_id(proc, headers["x-comox-request-id"])
    assert status == 200 and record["status"] == 200 and record["tenant"] == "acme"
    assert record["subject"] == "u-1" and record["backend"] == "gpu-a" and record["total_tokens"] > 0
    assert record["key_id"].startswith("key_") and keys["acme"] not in json.dumps(record)
    status, headers, _ = chat(proc.port, keys["globex"], stream=True)
    record = by_request_id(proc, headers["x-comox-request-id"])
    assert record["stream"] and record["ttft_ms"] is not None and record["completion_tokens"] > 0
    assert chat(proc.port, "ck-wrong")[0] == 401
    assert request(proc.port, "POST", "/v1/chat/completions", b"{nope", key=keys["acme"])[0] == 400
    assert chat(proc.port, keys["acme"], model="no-such-model")[0] == 404
    records = admin_search(proc)[before:]
    assert [r["status"] for r in records] == [200, 200, 401, 400, 404]
    assert records[2]["error"] == "invalid_api_key" and records[3]["tenant"] == "acme"
    metrics = request(proc.port, "GET", "/metrics")[2].decode()
    committed = re.search(r'^comox_audit_records_total\{outcome="committed"\} (\d+)', metrics, re.M)
    assert committed and int(committed.group(1)) >= len(records)
    assert 'comox_audit_records_total{outcome="lost"} 0' in metrics


def test_tenants_see_only_their_own_records_and_the_admin_sees_all(setup):
    proc, _, keys, _ = setup
    chat(proc.port, keys["acme"])
    chat(proc.port, keys["globex"])
    for tenant, key in keys.items():
        status, _, body = request(proc.port, "GET", "/v1/audit?limit=1000", key=key)
        assert status == 200
        seen = {r["tenant"] for r in json.loads(body)["data"]}
        assert seen == {tenant}
    other = request(proc.port, "GET", "/v1/audit?tenant=globex", key=keys["acme"])
    assert other[0] == 403
    assert request(proc.port, "GET", "/admin/audit", key=keys["acme"])[0] == 401
    assert {"acme", "globex"} <= {r["tenant"] for r in admin_search(proc)}
    assert {r["tenant"] for r in admin_search(proc, "tenant=globex")} == {"globex"}


def test_erasure_shreds_one_subjects_content_everywhere_and_the_chain_still_verifies(setup):
    proc, path, keys, tmp = setup
    secret_a, secret_b = "alice-" + secrets.token_hex(8), "bob-" + secrets.token_hex(8)
    for subject, secret in (("alice", secret_a), ("bob", secret_b)):
        body = {"model": "test-model", "messages": [{"role": "user", "content": secret}], "user": subject}
        assert request(proc.port, "POST", "/v1/chat/completions", body, keys["acme"])[0] == 200
        chat(proc.port, keys["acme"], stream=True, user=subject)

    def export(subject: str) -> list[dict]:
        status, _, body = request(proc.port, "GET", f"/admin/audit/subjects/{subject}?tenant=acme", key=ADMIN)
        assert status == 200, body
        return [json.loads(line) for line in body.splitlines()]

    assert secret_a in json.dumps(export("alice"))  # readable until erased
    db = sqlite3.connect(f"file:{tmp}/audit.db?mode=ro", uri=True)
    (wrapped,) = db.execute("SELECT wrapped FROM audit_subject_keys WHERE subject = 'alice'").fetchone()
    db.close()
    status, _, body = request(proc.port, "DELETE", "/admin/audit/subjects/alice?tenant=acme", key=ADMIN)
    assert status == 200 and json.loads(body)["erased_keys"] == 1
    assert all(r["decrypted"] == {"erased": True} for r in export("alice"))
    bob = export("bob")
    assert secret_b in json.dumps(bob) and all(r["decrypted"]["completion"] for r in bob)
    exported = cli("audit", "export", "--config", path, "--subject", "bob")
    assert secret_b in exported
    for file in [*tmp.glob("audit.db*"), tmp / "audit.jsonl"]:
        raw = file.read_bytes()
        assert secret_a.encode() not in raw and secret_b.encode() not in raw, file
        assert bytes(wrapped) not in raw, file
    assert cli("audit", "verify", "--config", path).startswith("ok:")
    assert cli("audit", "verify", "--config", path, "--jsonl", tmp / "audit.jsonl").startswith("ok:")


def writers_of(pids: set[int]) -> set[int]:
    """The audit writer processes started by any of `pids` (their argv names the worker)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"comox.audit.writer" in argv and any(str(p).encode() in argv for p in pids):
            found.add(int(entry))
    return found


def gateway_pids(proc) -> set[int]:
    """The gateway's process and its workers."""
    pid = proc.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {pid, *map(int, children)}


def stored_request_ids(path) -> set[str]:
    stored: set[str] = set()
    after = 0
    while True:
        lines = cli(
            "audit", "search", "--config", path, "--after", str(after), "--limit", "1000"
        ).splitlines()
        records = [json.loads(line) for line in lines]
        stored.update(r["request_id"] for r in records)
        if len(records) < 1000:
            return stored
        after = records[-1]["seq"]


def error_code(answer: bytes) -> str:
    """The error code of a JSON error body or of a stream's error event."""
    for line in answer.splitlines():
        if line.startswith(b"data:") and b'"error"' in line:
            return json.loads(line[5:])["error"]["code"]
    return json.loads(answer)["error"]["code"]


def _client(
    port: int,
    key: str,
    stop: threading.Event,
    received: list[str],
    index: int,
    refused: list[bytes] | None = None,
) -> None:
    body = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            while not stop.is_set():
                stream = index % 2 == 0
                payload = dict(body, stream=stream)
                conn.request(
                    "POST",
                    "/v1/chat/completions",
                    json.dumps(payload),
                    {"authorization": f"Bearer {key}", "content-type": "application/json"},
                )
                resp = conn.getresponse()
                answer = resp.read()  # to the last byte (the terminating chunk of a stream)
                # a stream whose record failed ends with an error event instead of [DONE]
                if resp.status == 200 and (not stream or answer.rstrip().endswith(b"[DONE]")):
                    received.append(resp.getheader("x-comox-request-id"))
                elif refused is not None:
                    refused.append(answer)
        except (OSError, http.client.HTTPException):
            time.sleep(0.01)
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def audit_store(request, tmp_path):
    yield from database_url(request.param, tmp_path, "audit")


def load(port: int, key: str, clients: int = 8, refused: list | None = None):
    """Start `clients` threads in a loop of chats; returns (stop event, threads, received ids)."""
    stop, received = threading.Event(), []
    threads = [
        threading.Thread(target=_client, args=(port, key, stop, received, i, refused), daemon=True)
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    return stop, threads, received


def test_kill_9_under_load_loses_no_record_of_an_answer_the_client_received(engine, tmp_path, audit_store):
    kill_9_under_load(engine, tmp_path, audit_store, "commit")


def test_with_handoff_durability_kill_9_still_loses_no_record_of_a_received_answer(engine, tmp_path):
    """Answers complete once their record is in the writer's pipe, not once it is committed:
    the writers outlive the gateway's processes and commit what they received."""
    kill_9_under_load(engine, tmp_path, f"sqlite:///{tmp_path}/audit.db", "handoff")


def kill_9_under_load(engine, tmp_path, audit_store: str, durability: str) -> None:
    config, path = audit_config(engine, tmp_path, audit_store, commit_window_ms=2, durability=durability)
    config["server"]["workers"] = 2
    path = write_config(config, str(tmp_path))
    key = create_key(path, "acme")
    proc = start_gateway(path)
    try:
        wait_until(lambda: chat(proc.port, key)[0] == 200, timeout=3)
        stop, threads, received = load(proc.port, key)
        wait_until(lambda: len(received) > 300, timeout=15)
        pids = gateway_pids(proc)
        proc.signal(signal.SIGKILL)  # the whole process group: supervisor and workers
        proc.proc.wait(5)
        stop.set()
        for t in threads:
            t.join(5)
    finally:
        proc.stop()
    done = list(received)
    # the writers run in their own sessions: they commit what was in their pipes, then exit
    wait_until(lambda: not writers_of(pids), timeout=30)
    stored = stored_request_ids(path)
    missing = [rid for rid in done if rid not in stored]
    assert not missing, f"{len(missing)} of {len(done)} received answers have no record"
    assert cli("audit", "verify", "--config", path).startswith("ok:")
