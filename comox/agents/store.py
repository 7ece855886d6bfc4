"""The embedded agents store: one SQLite file (WAL), every call on one dedicated thread.

The queries themselves are plain functions of a connection in `comox.agents.sql_*`; the
store only owns the connection and the thread, so `await store.call(fn, *args)` runs
`fn(db, *args)` off the event loop, inside a transaction when `fn` writes. Embeddings are
stored beside their memories as float32 blobs; `comox.agents.index` keeps them in process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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


class AgentStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comox-agents-db")

    @classmethod
    def from_url(cls, url: str) -> AgentStore:
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
                self._db = db
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    async def aclose(self) -> None:
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._db.close)
            self._db = None
        self._thread.shutdown(wait=False)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(db, *args)` on the store's thread: a read, or a write wrapped in a transaction
        when `fn` is marked with `@writes`."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, fn, args)

    def _in_thread(self, fn: Callable[..., T], args: tuple) -> T:
        db = self._db
        if not getattr(fn, "writes", False):
            return fn(db, *args)
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db, *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result


def writes(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a query function as a write: the store runs it in one transaction."""
    fn.writes = True  # type: ignore[attr-defined]
    return fn
