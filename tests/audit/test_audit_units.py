"""Pure parts of the audit log: content modes, what a record says, and group commit."""

from __future__ import annotations

import asyncio

import pytest

from comox.api.call import Call
from comox.audit.committer import GroupCommitter
from comox.audit.crypto import LocalKeyProvider, seal, unseal
from comox.audit.record import completion_text, describe, subject_of
from comox.config.audit import AuditConfig
from comox.server.request import Request
from tests.audit.records import entries


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


def test_records_arriving_during_a_write_share_the_next_commit():
    async def scenario():
        batches = []

        async def write(batch):
            batches.append(len(batch))
            await asyncio.sleep(0.01)

        committer = GroupCommitter(write)
        committer.start()
        await asyncio.gather(*(committer.commit(e) for e in entries(50)))
        await committer.aclose()
        return batches, committer.stats

    batches, stats = asyncio.run(scenario())
    assert sum(batches) == 50 and len(batches) <= 3 and stats.records == 50


def test_a_failed_write_fails_every_request_of_its_batch():
    async def scenario():
        async def write(batch):
            raise OSError("disk full")

        committer = GroupCommitter(write)
        committer.start()
        results = await asyncio.gather(*(committer.commit(e) for e in entries(3)), return_exceptions=True)
        await committer.aclose()
        return results

    assert all(isinstance(r, OSError) for r in asyncio.run(scenario()))
