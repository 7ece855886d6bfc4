"""The audit log in PostgreSQL (asyncpg), for several replicas writing one chain.

Each batch is one transaction that takes a transaction-scoped advisory lock, reads the
chain's head, links and inserts: replicas append in turn, and a record is durable when the
commit returns (with the server's default synchronous_commit=on). `schema` in the URL
(`?schema=name`) puts the tables in their own schema.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from comox.audit.chain import GENESIS, Checkpoint, CheckpointPolicy, link
from comox.audit.query import SELECT, Filters, search_sql
from comox.audit.record import Entry
from comox.stores.pg import PooledStore, split_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT PRIMARY KEY, ts TEXT NOT NULL, request_id TEXT NOT NULL, tenant TEXT, key_id TEXT,
  subject TEXT, model TEXT, backend TEXT, status BIGINT NOT NULL, meta BYTEA NOT NULL, content BYTEA,
  content_sha256 TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (tenant, ts);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, mac TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_subject_keys (
  key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT NOT NULL, wrapped BYTEA NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, UNIQUE (tenant, subject));
"""
_LOCK = 0x636F6D6F7861  # advisory lock of the chain head
_INSERT = f"INSERT INTO audit_log ({SELECT}) VALUES ({', '.join(f'${i}' for i in range(1, 15))})"


def _dollar(n: int) -> str:
    return f"${n}"


class PostgresAuditStore(PooledStore):
    DDL = SCHEMA

    def __init__(
        self,
        dsn: str,
        schema: str = "public",
        policy: CheckpointPolicy | None = None,
        clock: Callable[[], float] = time.time,
        pool_size: int = 4,
    ) -> None:
        super().__init__(dsn, schema, pool_size)
        self.policy = policy
        self.clock = clock

    @classmethod
    def from_url(cls, url: str, policy: CheckpointPolicy | None = None) -> PostgresAuditStore:
        dsn, schema = split_schema(url)
        return cls(dsn, schema, policy)

    async def append(self, entries: Sequence[Entry]) -> tuple[list[tuple], Checkpoint | None]:
        return await self._append(entries, False)

    async def checkpoint_now(self) -> Checkpoint | None:
        return (await self._append((), True))[1]

    async def _append(self, entries: Sequence[Entry], force: bool) -> tuple[list[tuple], Checkpoint | None]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            head = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            rows = link(head[0] if head else 0, head[1] if head else GENESIS, entries)
            if rows:
                await conn.executemany(_INSERT, rows)
                head = rows[-1][0], rows[-1][-1]
            checkpoint = None
            if self.policy is not None and head is not None:
                last = await conn.fetchrow("SELECT seq, ts FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
                now = self.clock()
                last_t = (last[0], last[1]) if last else None
                if self.policy.due(last_t, head[0], now) or (force and (last is None or last[0] < head[0])):
                    checkpoint = self.policy.sign(head[0], head[1], now)
                    await conn.execute(
                        "INSERT INTO audit_checkpoints VALUES ($1, $2, $3, $4)",
                        checkpoint.seq,
                        checkpoint.hash,
                        checkpoint.ts,
                        checkpoint.mac,
                    )
        return rows, checkpoint

    async def add_subject_key(
        self, key_id: str, tenant: str, subject: str, wrapped: bytes, at: float
    ) -> tuple[str, bytes]:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO audit_subject_keys VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                key_id,
                tenant,
                subject,
                wrapped,
                at,
            )
            row = await conn.fetchrow(
                "SELECT key_id, wrapped FROM audit_subject_keys WHERE tenant = $1 AND subject = $2",
                tenant,
                subject,
            )
        return row[0], bytes(row[1])

    async def delete_subject_keys(self, subject: str, tenant: str | None) -> list[str]:
        if tenant is None:
            rows = await self._pool.fetch(
                "DELETE FROM audit_subject_keys WHERE subject = $1 RETURNING key_id", subject
            )
        else:
            rows = await self._pool.fetch(
                "DELETE FROM audit_subject_keys WHERE subject = $1 AND tenant = $2 RETURNING key_id",
                subject,
                tenant,
            )
        # dead tuples keep the wrapped key until vacuumed: reclaim them now (outside a transaction)
        await self._pool.execute("VACUUM audit_subject_keys")
        return [r[0] for r in rows]

    async def subject_key(self, tenant: str, subject: str) -> tuple[str, bytes] | None:
        row = await self._pool.fetchrow(
            "SELECT key_id, wrapped FROM audit_subject_keys WHERE tenant = $1 AND subject = $2",
            tenant,
            subject,
        )
        return (row[0], bytes(row[1])) if row else None

    async def key_by_id(self, key_id: str) -> tuple[str, str, bytes] | None:
        row = await self._pool.fetchrow(
            "SELECT tenant, subject, wrapped FROM audit_subject_keys WHERE key_id = $1", key_id
        )
        return (row[0], row[1], bytes(row[2])) if row else None

    async def search(self, filters: Filters) -> list[tuple]:
        sql, params = search_sql(filters, _dollar)
        return [tuple(r) for r in await self._pool.fetch(sql, *params)]

    async def rows(self, after: int, limit: int) -> list[tuple]:
        rows = await self._pool.fetch(
            f"SELECT {SELECT} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit
        )
        return [tuple(r) for r in rows]

    async def checkpoints(self) -> list[Checkpoint]:
        rows = await self._pool.fetch("SELECT seq, hash, ts, mac FROM audit_checkpoints ORDER BY seq")
        return [Checkpoint(*r) for r in rows]
