"""Pure parts of the audit log: content modes, what a record says, sealing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from comox.api.call import Call
from comox.audit.crypto import LocalKeyProvider, seal, unseal
from comox.audit.record import (
    INDEXED,
    BackendFacts,
    canonical,
    completion_text,
    describe,
    new_request_id,
    record_bytes,
    subject_of,
    utc_iso,
)
from comox.config.audit import AuditConfig
from comox.server.request import Request


def test_content_mode_comes_from_the_data_class_then_the_tenant_then_the_default():
    config = AuditConfig(
        content="none", content_by_tenant={"acme": "full"}, content_by_class={"pii": "redacted"}
    )
    assert config.content_mode("acme", None) == "full"
    assert config.content_mode("acme", "pii") == "redacted"
    assert config.content_mode("other", None) == "none"
    assert config.keeps_content and not AuditConfig().keeps_content


def _call(**payload) -> Call:
    request = Request(
        b"POST", b"/v1/chat/completions", b"", {b"x-comox-subject": b"hdr"}, b"", "10.0.0.1", 1.0
    )
    return Call(request, "chat", payload, "m", False)


def test_the_subject_is_the_user_field_then_the_header_then_the_tenant():
    assert subject_of(_call(user="u1")) == "u1"
    assert subject_of(_call()) == "hdr"


def test_a_record_names_the_key_by_id_and_never_holds_content():
    call = _call(messages=[{"role": "user", "content": "private words"}])
    call.status, call.backend, call.served_model, call.attempts = 200, "gpu-a", "m", 1
    meta = describe(
        call,
        request_id="r",
        subject="s",
        started_wall=0.0,
        ended=1.5,
        backends={},
        content_mode="none",
        content_key=None,
    )
    assert meta["ts"] == "1970-01-01T00:00:00.000Z" and meta["latency_ms"] == 500.0
    assert meta["decisions"] == {"allow_cloud": True, "attempts": 1, "cloud": False, "fallback": False}
    assert "private" not in str(meta)


def test_record_bytes_are_the_canonical_json_with_or_without_policy_notes():
    call = _call()
    call.status, call.backend, call.served_model, call.first_byte_at = 200, "gpu-a", "m2", 1.25
    call.usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    facts = {"gpu-a": BackendFacts(True, "EU")}
    kwargs = dict(request_id="r", subject="s", started_wall=1.7e9, ended=1.123456789, backends=facts)
    meta = describe(call, **kwargs, content_mode="full", content_key="ck")
    assert record_bytes(meta, False) == canonical(meta)  # sorted as built: no sort needed
    assert set(meta) >= set(INDEXED)  # every searchable column is in the metadata
    assert meta["latency_ms"] == 123.457 and meta["ttft_ms"] == 250.0 and meta["jurisdiction"] == "EU"
    assert meta["decisions"]["cloud"] and meta["decisions"]["fallback"]
    call.notes["redactions"] = 2
    call.notes["agent"] = {"turns": 1}
    meta = describe(call, **kwargs, content_mode="none", content_key=None)
    assert record_bytes(meta, True) == canonical(meta)
    assert list(orjson.loads(record_bytes(meta, True))["decisions"]) == sorted(meta["decisions"])


def test_completion_text_of_whole_answers_and_streams():
    whole = b'{"choices":[{"message":{"content":"hi there"}}]}'
    stream = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"choices":[{"delta":{"content":" there"}}]}\n\ndata: [DONE]\n\n'
    assert completion_text(whole, False) == completion_text(stream, True) == "hi there"


def test_sealed_content_opens_only_with_its_key_and_context():
    from cryptography.exceptions import InvalidTag

    key = b"k" * 32
    sealed = seal(key, b"text", b"ctx")
    assert unseal(key, sealed, b"ctx") == b"text"
    with pytest.raises(InvalidTag):
        unseal(key, sealed, b"other")

    async def wrap():
        provider = LocalKeyProvider(b"m" * 32)
        return await provider.unwrap(await provider.wrap(key, b"c"), b"c")

    assert asyncio.run(wrap()) == key


def test_utc_iso_matches_datetime_to_the_millisecond_across_seconds():
    from datetime import UTC, datetime

    for ts in (0.0, 1.5, 59.9994, 1_700_000_000.123456, 1_700_000_001.0, 1_700_000_000.999, 951_782_400.25):
        expected = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert utc_iso(ts) == expected


def test_request_ids_are_unique_and_a_forked_child_draws_a_new_prefix():
    import os

    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(i.startswith("req_") for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert child[:20] != new_request_id()[:20]
