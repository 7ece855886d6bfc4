"""What only the PostgreSQL agents store has: one schema shared by many workers and stores,
concurrent writers, and a schema kept column for column like the SQLite one."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from comox.agents.db import snapshot, writes
from comox.agents.persona import Agent
from comox.agents.sql_agents import put_agent
from comox.agents.store_postgres import PostgresAgentStore, numbered
from comox.agents.store_sqlite import SqliteAgentStore
from comox.stores.audit_postgres import PostgresAuditStore
from comox.stores.postgres import PostgresStore
from comox.testing.databases import database_url


@pytest.fixture
def pg_url(tmp_path):
    yield from database_url("postgres", tmp_path, "agents")


def test_question_marks_become_numbered_parameters():
    assert numbered('SELECT 1 FROM t WHERE "user" = ? AND id IN (?, ?)') == (
        'SELECT 1 FROM t WHERE "user" = $1 AND id IN ($2, $3)'
    )
    assert numbered("SELECT 1") == "SELECT 1"


def test_workers_and_other_stores_creating_one_schema_at_once_all_succeed(pg_url):
    async def main():
        stores = [PostgresAgentStore.from_url(pg_url) for _ in range(4)]
        stores += [PostgresStore.from_url(pg_url), PostgresAuditStore.from_url(pg_url)]
        await asyncio.gather(*(s.open() for s in stores))
        await asyncio.gather(*(s.aclose() for s in stores))

    asyncio.run(main())


def test_the_schema_has_the_tables_and_columns_of_the_sqlite_one(pg_url, tmp_path):
    async def main():
        lite = SqliteAgentStore(str(tmp_path / "agents.db"))
        await lite.open()
        tables = ("agents", "turns", "summaries", "memories", "edges", "versions")
        lite_columns = {
            t: [r[1] for r in lite._db.conn.execute(f"PRAGMA table_info({t})").fetchall()] for t in tables
        }
        await lite.aclose()
        pg = PostgresAgentStore.from_url(pg_url)
        await pg.open()
        rows = await pg._pool.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
        await pg.aclose()
        pg_columns = {t: [r[1] for r in rows if r[0] == t] for t in tables}
        assert pg_columns == lite_columns

    asyncio.run(main())


def test_a_write_that_loses_a_deadlock_is_run_again(pg_url):
    """Two writes lock two rows in opposite orders: PostgreSQL aborts one, the store runs it again."""

    async def main():
        store = PostgresAgentStore.from_url(pg_url)
        await store.open()
        for name in ("a", "b"):
            await store.call(put_agent, Agent(name, "acme", name, created_at=0.0, updated_at=0.0))
        locked = {"a": asyncio.Event(), "b": asyncio.Event()}
        attempts: Counter[str] = Counter()

        def crossing(first: str, second: str):
            @writes
            async def lock_both(db) -> str:
                attempts[first] += 1
                await db.execute("UPDATE agents SET updated_at = updated_at + 1 WHERE id = ?", first)
                locked[first].set()
                await locked[second].wait()
                await db.execute("UPDATE agents SET updated_at = updated_at + 1 WHERE id = ?", second)
                return first

            return lock_both

        try:
            done = await asyncio.gather(store.call(crossing("a", "b")), store.call(crossing("b", "a")))
            assert done == ["a", "b"] and sorted(attempts.values()) == [1, 2]
            rows = await store._pool.fetch("SELECT updated_at FROM agents ORDER BY id")
            assert [r[0] for r in rows] == [2.0, 2.0]  # the aborted attempt changed nothing
        finally:
            await store.aclose()

    asyncio.run(main())


def test_a_snapshot_read_sees_one_state_while_another_write_commits(pg_url):
    """As `index_rows` needs: a version and the rows it stands for, never a mix."""

    async def main():
        store = PostgresAgentStore.from_url(pg_url)
        await store.open()
        await store.call(put_agent, Agent("a", "acme", "a", created_at=0.0, updated_at=0.0))
        between, resumed = asyncio.Event(), asyncio.Event()

        @snapshot
        async def count_twice(db) -> tuple[int, int]:
            first = await db.fetchval("SELECT count(*) FROM agents")
            between.set()
            await resumed.wait()
            return first, await db.fetchval("SELECT count(*) FROM agents")

        async def write_between() -> None:
            await between.wait()
            await store.call(put_agent, Agent("b", "acme", "b", created_at=0.0, updated_at=0.0))
            resumed.set()

        try:
            counts, _ = await asyncio.gather(store.call(count_twice), write_between())
            assert counts == (1, 1)
            assert await store.call(count_twice) == (2, 2)
        finally:
            await store.aclose()

    asyncio.run(main())
