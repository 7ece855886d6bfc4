"""The Store contract, run against a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

import asyncio

import pytest

from comox.policy.keys import KeyRecord, Limits, Tenant, hash_key
from comox.stores.base import Conflict, StoreError, UsageRow, open_store


def run(coro):
    return asyncio.run(coro)


def key(id_: str, tenant: str = "acme", **extra) -> KeyRecord:
    return KeyRecord(id=id_, tenant=tenant, hash=hash_key("secret-" + id_), created_at=1.0, **extra)


def test_tenants_and_keys_round_trip_and_every_change_moves_the_version(store_url) -> None:
    async def scenario() -> None:
        store = open_store(store_url)
        await store.open()
        v0 = await store.keys_version()
        limits = Limits(rpm=60, tpm=1000, token_budget=5000, budget_period="day")
        await store.create_tenant(Tenant("acme", 1.0, limits, {"owner": "ops"}))
        with pytest.raises(Conflict):
            await store.create_tenant(Tenant("acme", 2.0))
        record = key(
            "key_1",
            models=("llama-*",),
            data_class="internal",
            allow_cloud=False,
            max_tokens=64,
            limits=Limits(rpm=5),
            metadata={"purpose": "ci"},
            expires_at=99.5,
        )
        await store.create_key(record)
        with pytest.raises(StoreError):
            await store.create_key(key("key_2", tenant="nobody"))
        assert await store.list_tenants() == [Tenant("acme", 1.0, limits, {"owner": "ops"})]
        assert await store.list_keys() == [record]
        v1 = await store.keys_version()
        revoked = await store.revoke_key("key_1", 7.0)
        assert revoked is not None and revoked.revoked_at == 7.0
        assert (await store.revoke_key("key_1", 9.0)).revoked_at == 7.0  # first revocation kept
        assert await store.revoke_key("key_nope", 9.0) is None
        assert v0 < v1 < await store.keys_version()
        await store.aclose()

    run(scenario())


def test_usage_rows_add_up_and_filter_by_day_and_tenant(store_url) -> None:
    async def scenario() -> None:
        store = open_store(store_url)
        await store.open()
        row = UsageRow("2024-06-01", "acme", "key_1", "m", "gpu-a", 1, 0, 10, 5, 15)
        await store.add_usage([row, UsageRow("2024-06-02", "beta", "key_2", "m", "gpu-a", 2, 1, 1, 1, 2)])
        await store.add_usage([row])
        rows = await store.usage("2024-06-01", "2024-06-30")
        assert rows[0] == UsageRow("2024-06-01", "acme", "key_1", "m", "gpu-a", 2, 0, 20, 10, 30)
        assert [r.tenant for r in await store.usage("2024-06-01", "2024-06-30", "beta")] == ["beta"]
        assert await store.usage("2024-06-02", "2024-06-02", "acme") == []
        await store.aclose()

    run(scenario())


def test_two_workers_opening_one_store_at_once_both_succeed(store_url) -> None:
    async def scenario() -> None:
        stores = [open_store(store_url) for _ in range(3)]
        await asyncio.gather(*(s.open() for s in stores))
        await asyncio.gather(*(s.add_usage([UsageRow("2024-06-01", "t", "k", "m", "b", 1)]) for s in stores))
        assert (await stores[0].usage("2024-06-01", "2024-06-01"))[0].requests == 3
        for s in stores:
            await s.aclose()

    run(scenario())
