"""Both audit stores: chained appends, checkpoints, search, subject keys and erasure."""

from __future__ import annotations

import asyncio
import glob
import os
from pathlib import Path

import pytest

from comox.audit import operations
from comox.audit.chain import CheckpointPolicy
from comox.audit.crypto import LocalKeyProvider, seal
from comox.audit.keyring import KeyRing
from comox.audit.log import content_context, open_audit_store
from comox.audit.query import Filters
from comox.audit.record import entry_of
from tests.audit.records import entries, meta

KEY = b"c" * 32


def run(coro):
    return asyncio.run(coro)


def test_appends_from_concurrent_writers_form_one_verifiable_chain(audit_url):
    async def scenario():
        stores = [open_audit_store(audit_url, CheckpointPolicy(KEY, every=5)) for _ in range(3)]
        for store in stores:
            await store.open()
        try:
            await asyncio.gather(*(s.append(entries(4)) for s in stores for _ in range(3)))
            report = await operations.verify(stores[0], KEY)
            assert report.ok, report.problem
            assert report.records == 36 and report.checkpoints >= 1
            cp = await stores[0].checkpoint_now()
            assert cp is None or cp.seq == 36
            assert (await operations.verify(stores[0], KEY)).checkpoints >= 1
        finally:
            for store in stores:
                await store.aclose()

    run(scenario())


def test_search_filters_by_tenant_status_time_and_pages(audit_url):
    async def scenario():
        store = open_audit_store(audit_url)
        await store.open()
        try:
            batch = [
                entry_of(meta(i, tenant="a" if i % 2 else "b", status=200 if i < 5 else 429))
                for i in range(1, 9)
            ]
            await store.append(batch)
            found = await operations.search(store, Filters(tenant="a"))
            assert [r["seq"] for r in found] == [1, 3, 5, 7] and {r["tenant"] for r in found} == {"a"}
            assert [r["seq"] for r in await operations.search(store, Filters(status=429))] == [5, 6, 7, 8]
            window = Filters(since="2025-01-01T00:00:03.000Z", until="2025-01-01T00:00:05.000Z")
            assert [r["seq"] for r in await operations.search(store, window)] == [3, 4]
            assert [r["seq"] for r in await operations.search(store, Filters(after=6, limit=1))] == [7]
            assert "key" not in found[0] and found[0]["key_id"] == "key_1"
        finally:
            await store.aclose()

    run(scenario())


def test_erasure_destroys_one_subjects_key_and_the_chain_still_verifies(audit_url):
    async def scenario():
        store = open_audit_store(audit_url)
        await store.open()
        ring = KeyRing(store, LocalKeyProvider(KEY))
        try:
            batch = []
            for i, subject in enumerate(["alice", "bob", "alice"], start=1):
                key_id, key = await ring.key_for("acme", subject)
                m = meta(i, subject=subject, content="full", content_key=key_id)
                secret = f"secret of {subject} #{i}".encode()
                batch.append(
                    entry_of(
                        m, seal(key, b'{"prompt": "%s"}' % secret, content_context(m["request_id"], key_id))
                    )
                )
            await store.append(batch)
            before = [r async for r in operations.export_subject(store, ring, "alice")]
            assert [r["decrypted"]["prompt"] for r in before] == ["secret of alice #1", "secret of alice #3"]
            assert len(await operations.erase(ring, "alice")) == 1
            after = [r async for r in operations.export_subject(store, ring, "alice")]
            assert [r["decrypted"] for r in after] == [{"erased": True}] * 2
            bob = [r async for r in operations.export_subject(store, ring, "bob")]
            assert bob[0]["decrypted"]["prompt"] == "secret of bob #2"
            assert (await operations.verify(store, None)).ok
            new_id, _ = await ring.key_for("acme", "alice")  # a new key for what comes next
            assert new_id not in {r["content_key"] for r in before}
        finally:
            await store.aclose()

    run(scenario())


def test_an_erased_key_leaves_no_copy_in_the_sqlite_files(tmp_path):
    async def scenario():
        store = open_audit_store(f"sqlite:///{tmp_path}/audit.db")
        await store.open()
        ring = KeyRing(store, LocalKeyProvider(KEY))
        try:
            await ring.key_for("acme", "alice")
            await ring.key_for("acme", "bob")
            wrapped = (await store.subject_key("acme", "alice"))[1]
            await store.append(entries(3))
            await ring.erase("alice")
            return wrapped
        finally:
            await store.aclose()

    wrapped = run(scenario())
    files = glob.glob(f"{tmp_path}/audit.db*")
    assert files
    for path in files:
        data = Path(path).read_bytes()
        assert wrapped not in data, path


@pytest.mark.parametrize("column", ["status", "tenant", "meta", "content", "hash", "prev_hash"])
def test_a_byte_changed_in_the_sqlite_file_is_found_at_its_record(tmp_path, column):
    import sqlite3

    async def fill():
        store = open_audit_store(f"sqlite:///{tmp_path}/audit.db")
        await store.open()
        await store.append(entries(5))
        await store.aclose()

    run(fill())
    db = sqlite3.connect(tmp_path / "audit.db")
    if column == "status":
        db.execute("UPDATE audit_log SET status = status + 1 WHERE seq = 3")
    elif column in ("meta", "content"):
        (value,) = db.execute(f"SELECT {column} FROM audit_log WHERE seq = 3").fetchone()
        changed = bytearray(value)
        changed[7] ^= 0x20
        db.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = 3", (bytes(changed),))
    else:
        db.execute(
            f"UPDATE audit_log SET {column} = substr({column}, 1, 3) || 'X' || substr({column}, 5) WHERE seq = 3"
        )
    db.commit()
    db.close()

    async def check():
        store = open_audit_store(f"sqlite:///{tmp_path}/audit.db")
        await store.open()
        try:
            return await operations.verify(store, None)
        finally:
            await store.aclose()

    report = run(check())
    assert report.problem is not None and report.problem.seq == 3, report.problem
    assert os.path.exists(tmp_path / "audit.db")
