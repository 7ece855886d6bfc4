"""The embedded store: one SQLite file in WAL mode, zero setup.

sqlite3 calls block, so each runs on one dedicated thread (`run_in_executor`); the event
loop never waits on the disk. WAL lets every worker read while one writes, and a busy
timeout makes concurrent writers from several workers queue instead of failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('keys_version', 0);
CREATE TABLE IF NOT EXISTS tenants (
  name TEXT PRIMARY KEY, created_at REAL NOT NULL, rpm INTEGER, tpm INTEGER,
  token_budget INTEGER, budget_period TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(name), hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL, revoked_at REAL,
  models TEXT NOT NULL, data_class TEXT, allow_cloud INTEGER NOT NULL, max_tokens INTEGER,
  rpm INTEGER, tpm INTEGER, token_budget INTEGER, budget_period TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
  day TEXT NOT NULL, tenant TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL,
  backend TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,
  PRIMARY KEY (day, tenant, key_id, model, backend));
"""
_BUMP = "UPDATE meta SET value = value + 1 WHERE name = 'keys_version'"
_ADD_USAGE = """
INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, tenant, key_id, model, backend) DO UPDATE SET
  requests = requests + excluded.requests, errors = errors + excluded.errors,
  prompt_tokens = prompt_tokens + excluded.prompt_tokens,
  completion_tokens = completion_tokens + excluded.completion_tokens,
  total_tokens = total_tokens + excluded.total_tokens
"""


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comox-sqlite")

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """sqlite:///relative/path.db, sqlite:////absolute/path.db, or sqlite:///:memory:"""
        path = url.removeprefix("sqlite:").removeprefix("//").removeprefix("/")
        return cls(path or "comox-data/comox.db")

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        """Connect and create the schema; retried, since switching a new file to WAL while
        another worker does the same can fail at once with 'locked' (no busy wait there)."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            try:
                self._db = self._connect()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        except BaseException:
            db.close()
            raise
        return db

    async def aclose(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown(wait=False)

    def _write(self, statements: list[tuple[str, tuple]], many: bool = False) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                (db.executemany if many else db.execute)(sql, params)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._db.execute(sql, params).fetchall()

    async def keys_version(self) -> int:
        rows = await self._run(self._query, "SELECT value FROM meta WHERE name = 'keys_version'")
        return rows[0][0]

    async def create_tenant(self, tenant: Tenant) -> None:
        sql = f"INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        try:
            await self._run(self._write, [(sql, tenant_values(tenant)), (_BUMP, ())])
        except sqlite3.IntegrityError:
            raise Conflict(f"tenant '{tenant.name}' exists already") from None

    async def list_tenants(self) -> list[Tenant]:
        rows = await self._run(self._query, f"SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name")
        return [tenant_from_row(r) for r in rows]

    async def create_key(self, key: KeyRecord) -> None:
        sql = f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ({', '.join('?' * 16)})"
        try:
            await self._run(self._write, [(sql, key_values(key)), (_BUMP, ())])
        except sqlite3.IntegrityError:
            raise StoreError(f"unknown tenant '{key.tenant}'") from None

    async def list_keys(self) -> list[KeyRecord]:
        rows = await self._run(self._query, f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id")
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        return await self._run(self._revoke, key_id, at)

    def _revoke(self, key_id: str, at: float) -> KeyRecord | None:
        self._write(
            [
                ("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (at, key_id)),
                (_BUMP, ()),
            ]
        )
        rows = self._query(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return key_from_row(rows[0]) if rows else None

    async def add_usage(self, rows: list[UsageRow]) -> None:
        if rows:
            await self._run(self._write, [(_ADD_USAGE, [usage_values(r) for r in rows])], True)

    async def usage(self, since: str, until: str, tenant: str | None = None) -> list[UsageRow]:
        sql = "SELECT * FROM usage WHERE day >= ? AND day <= ?"
        params: tuple = (since, until)
        if tenant is not None:
            sql, params = sql + " AND tenant = ?", (*params, tenant)
        rows = await self._run(self._query, sql + " ORDER BY day, tenant, key_id, model, backend", params)
        return [UsageRow(*r) for r in rows]
