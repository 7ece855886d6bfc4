"""The embedded agents store: one SQLite file (WAL), every call on one dedicated thread.

`await store.call(fn, *args)` runs the query function `fn(db, *args)` (see `comox.agents.db`)
to its end on the store's thread, off the event loop, in one trip: a read, or a write in one
`BEGIN IMMEDIATE` transaction, so writers of several workers on one file take turns.
Embeddings are stored beside their memories as float32 blobs; `comox.agents.index` keeps
them in process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from comox.agents.db import is_snapshot, is_write, run_to_end

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
  created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS agents_tenant ON agents (tenant, created_at);
CREATE TABLE IF NOT EXISTS turns (
  id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, agent TEXT NOT NULL, user TEXT NOT NULL,
  role TEXT NOT NULL, content TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS turns_scope ON turns (tenant, agent, user, id);
CREATE INDEX IF NOT EXISTS turns_user ON turns (user, tenant);
CREATE TABLE IF NOT EXISTS summaries (
  tenant TEXT NOT NULL, agent TEXT NOT NULL, user TEXT NOT NULL, text TEXT NOT NULL,
  upto_turn INTEGER NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (tenant, agent, user));
CREATE TABLE IF NOT EXISTS memories (
  id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, agent TEXT NOT NULL, user TEXT NOT NULL,
  kind TEXT NOT NULL, text TEXT NOT NULL, category TEXT NOT NULL, importance REAL NOT NULL,
  created_at REAL NOT NULL, source_turn INTEGER, valid_to REAL, stale INTEGER NOT NULL DEFAULT 0,
  hits INTEGER NOT NULL DEFAULT 0, last_used REAL, embedding BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS memories_scope ON memories (tenant, agent, user, id);
CREATE INDEX IF NOT EXISTS memories_user ON memories (user, tenant);
CREATE TABLE IF NOT EXISTS edges (
  id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, agent TEXT NOT NULL, user TEXT NOT NULL,
  subject TEXT NOT NULL, relation TEXT NOT NULL, object TEXT NOT NULL, valid_from REAL NOT NULL,
  valid_to REAL, memory INTEGER);
CREATE INDEX IF NOT EXISTS edges_scope ON edges (tenant, agent, user, valid_to);
CREATE INDEX IF NOT EXISTS edges_user ON edges (user, tenant);
CREATE TABLE IF NOT EXISTS versions (
  tenant TEXT NOT NULL, agent TEXT NOT NULL, user TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (tenant, agent, user));
"""

T = TypeVar("T")


class SqliteDb:
    """`comox.agents.db.Db` on a sqlite3 connection: every method answers at once."""

    share_lock = ""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        return self.conn.execute(sql, args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> tuple | None:
        return self.conn.execute(sql, args).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None

    async def execute(self, sql: str, *args: Any) -> int:
        return self.conn.execute(sql, args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


class SqliteAgentStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: SqliteDb | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comox-agents-db")

    @classmethod
    def from_url(cls, url: str) -> SqliteAgentStore:
        """sqlite:///relative/path.db, sqlite:////absolute/path.db, or sqlite:///:memory:"""
        path = url.removeprefix("sqlite:").removeprefix("//").removeprefix("/")
        return cls(path or "comox-data/agents.db")

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._open)

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):  # several workers may create the schema at once
            try:
                db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
                self._db = SqliteDb(db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    async def aclose(self) -> None:
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._db.conn.close)
            self._db = None
        self._thread.shutdown(wait=False)

    async def call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """`fn(db, *args)` on the store's thread: a read, or one transaction when `fn` is
        marked with `@writes` or `@snapshot`."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, fn, args)

    def _in_thread(self, fn: Callable[..., Coroutine[Any, Any, T]], args: tuple) -> T:
        db = self._db
        if is_write(fn):
            begin = "BEGIN IMMEDIATE"
        elif is_snapshot(fn):
            begin = "BEGIN"  # WAL: every read until COMMIT sees the state of the first one
        else:
            return run_to_end(fn(db, *args))
        db.conn.execute(begin)
        try:
            result = run_to_end(fn(db, *args))
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")
        return result
