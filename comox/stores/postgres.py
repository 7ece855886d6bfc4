"""Tenants, keys and usage in PostgreSQL, for several replicas sharing one truth (asyncpg).

`store: postgres://user@host:5432/db?schema=name` puts the tables in `name` (created if
missing; default `public`), so one database can hold several gateways or test runs.
"""

from __future__ import annotations

import asyncpg

from comox.policy.keys import KeyRecord, Tenant
from comox.stores.base import (
    KEY_COLUMNS,
    TENANT_COLUMNS,
    Conflict,
    StoreError,
    UsageRow,
    key_from_row,
    key_values,
    tenant_from_row,
    tenant_values,
    usage_values,
)
from comox.stores.pg import PooledStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta VALUES ('keys_version', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS tenants (
  name TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, rpm BIGINT, tpm BIGINT,
  token_budget BIGINT, budget_period TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(name), hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION,
  revoked_at DOUBLE PRECISION, models TEXT NOT NULL, data_class TEXT, allow_cloud BOOLEAN NOT NULL,
  max_tokens BIGINT, rpm BIGINT, tpm BIGINT, token_budget BIGINT, budget_period TEXT NOT NULL,
  metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
  day TEXT NOT NULL, tenant TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL,
  backend TEXT NOT NULL, requests BIGINT NOT NULL, errors BIGINT NOT NULL,
  prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, total_tokens BIGINT NOT NULL,
  PRIMARY KEY (day, tenant, key_id, model, backend));
"""
_BUMP = "UPDATE meta SET value = value + 1 WHERE name = 'keys_version'"
_ADD_USAGE = """
INSERT INTO usage VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (day, tenant, key_id, model, backend) DO UPDATE SET
  requests = usage.requests + excluded.requests, errors = usage.errors + excluded.errors,
  prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
  completion_tokens = usage.completion_tokens + excluded.completion_tokens,
  total_tokens = usage.total_tokens + excluded.total_tokens
"""


def _params(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


class PostgresStore(PooledStore):
    DDL = SCHEMA

    async def keys_version(self) -> int:
        return await self._pool.fetchval("SELECT value FROM meta WHERE name = 'keys_version'")

    async def create_tenant(self, tenant: Tenant) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    f"INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ({_params(7)})", *tenant_values(tenant)
                )
            except asyncpg.UniqueViolationError:
                raise Conflict(f"tenant '{tenant.name}' exists already") from None
            await conn.execute(_BUMP)

    async def list_tenants(self) -> list[Tenant]:
        rows = await self._pool.fetch(f"SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name")
        return [tenant_from_row(r) for r in rows]

    async def create_key(self, key: KeyRecord) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ({_params(16)})", *key_values(key)
                )
            except asyncpg.ForeignKeyViolationError:
                raise StoreError(f"unknown tenant '{key.tenant}'") from None
            await conn.execute(_BUMP)

    async def list_keys(self) -> list[KeyRecord]:
        rows = await self._pool.fetch(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id")
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2"
                f" RETURNING {KEY_COLUMNS}",
                at,
                key_id,
            )
            await conn.execute(_BUMP)
        return key_from_row(row) if row else None

    async def add_usage(self, rows: list[UsageRow]) -> None:
        if rows:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.executemany(_ADD_USAGE, [usage_values(r) for r in rows])

    async def usage(self, since: str, until: str, tenant: str | None = None) -> list[UsageRow]:
        sql = "SELECT * FROM usage WHERE day >= $1 AND day <= $2"
        params: list = [since, until]
        if tenant is not None:
            sql += " AND tenant = $3"
            params.append(tenant)
        rows = await self._pool.fetch(sql + " ORDER BY day, tenant, key_id, model, backend", *params)
        return [UsageRow(*r) for r in rows]
