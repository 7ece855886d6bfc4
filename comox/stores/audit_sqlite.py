"""The audit log in its own SQLite file: WAL, synchronous=FULL, secure_delete.

A commit returns only once the WAL is fsynced (synchronous=FULL), so a record is durable
when `append` returns. Writes run on one thread, reads on another (WAL lets them overlap),
so a search never delays a commit and the event loop never waits on the disk (`inline`
runs the writes on the calling thread instead: for the audit writer process, whose loop
has nothing else to do, a thread hop per batch would be pure cost). Several
workers append to one chain: each batch takes the write lock (BEGIN IMMEDIATE), reads the
head, links and inserts; the lock is taken once per batch, not per record.
secure_delete overwrites erased content keys in the file, and erasure checkpoints the
WAL, so no copy of a destroyed key survives in the database files.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from comox.audit.chain import GENESIS, Checkpoint, CheckpointPolicy, link
from comox.audit.query import SELECT, Filters, search_sql
from comox.audit.record import Entry

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, request_id TEXT NOT NULL, tenant TEXT, key_id TEXT,
  subject TEXT, model TEXT, backend TEXT, status INTEGER NOT NULL, meta BLOB NOT NULL, content BLOB,
  content_sha256 TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (tenant, ts);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, ts REAL NOT NULL, mac TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_subject_keys (
  key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT NOT NULL, wrapped BLOB NOT NULL,
  created_at REAL NOT NULL, UNIQUE (tenant, subject));
"""
_INSERT = f"INSERT INTO audit_log ({SELECT}) VALUES ({', '.join('?' * 14)})"


class SqliteAuditStore:
    def __init__(
        self,
        path: str,
        policy: CheckpointPolicy | None = None,
        clock: Callable[[], float] = time.time,
        inline: bool = False,
    ) -> None:
        self.path = path
        self.policy = policy
        self.clock = clock
        self.inline = inline
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="comox-audit-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="comox-audit-read")

    @classmethod
    def from_url(
        cls, url: str, policy: CheckpointPolicy | None = None, inline: bool = False
    ) -> SqliteAuditStore:
        path = url.removeprefix("sqlite:").removeprefix("//").removeprefix("/")
        return cls(path or "comox-data/audit.db", policy, inline=inline)

    async def _write(self, fn, *args):
        if self.inline:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, fn, *args)

    async def _read(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._read_thread, fn, *args)

    async def open(self) -> None:
        self._writer = await self._write(self._open_writer)
        self._reader = await self._read(self._connect)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        return db

    def _open_writer(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            try:
                db = self._connect()
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
                return db
            except sqlite3.OperationalError as exc:  # several workers switching to WAL at once
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        for db, run in ((self._writer, self._write), (self._reader, self._read)):
            if db is not None:
                await run(db.close)
        self._writer = self._reader = None
        self._write_thread.shutdown(wait=False)
        self._read_thread.shutdown(wait=False)

    # ---- writing --------------------------------------------------------------------------
    async def append(self, entries: Sequence[Entry]) -> tuple[list[tuple], Checkpoint | None]:
        """Link and insert `entries` in one durable transaction: (rows, checkpoint written)."""
        return await self._write(self._append, entries, False)

    async def checkpoint_now(self) -> Checkpoint | None:
        """Sign the current head (at shutdown), unless a checkpoint pins it already."""
        return (await self._write(self._append, (), True))[1]

    def _append(self, entries: Sequence[Entry], force: bool) -> tuple[list[tuple], Checkpoint | None]:
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            head = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            rows = link(head[0] if head else 0, head[1] if head else GENESIS, entries)
            if rows:
                db.executemany(_INSERT, rows)
                head = rows[-1][0], rows[-1][-1]
            checkpoint = None
            if self.policy is not None and head is not None:
                last = db.execute(
                    "SELECT seq, ts FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                now = self.clock()
                if self.policy.due(last, head[0], now) or (force and (last is None or last[0] < head[0])):
                    checkpoint = self.policy.sign(head[0], head[1], now)
                    db.execute(
                        "INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?)",
                        (checkpoint.seq, checkpoint.hash, checkpoint.ts, checkpoint.mac),
                    )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return rows, checkpoint

    async def add_subject_key(
        self, key_id: str, tenant: str, subject: str, wrapped: bytes, at: float
    ) -> tuple[str, bytes]:
        return await self._write(self._add_key, key_id, tenant, subject, wrapped, at)

    def _add_key(
        self, key_id: str, tenant: str, subject: str, wrapped: bytes, at: float
    ) -> tuple[str, bytes]:
        db = self._writer
        db.execute(
            "INSERT OR IGNORE INTO audit_subject_keys VALUES (?, ?, ?, ?, ?)",
            (key_id, tenant, subject, wrapped, at),
        )
        row = db.execute(
            "SELECT key_id, wrapped FROM audit_subject_keys WHERE tenant = ? AND subject = ?",
            (tenant, subject),
        ).fetchone()
        return row[0], bytes(row[1])

    async def delete_subject_keys(self, subject: str, tenant: str | None) -> list[str]:
        return await self._write(self._delete_keys, subject, tenant)

    def _delete_keys(self, subject: str, tenant: str | None) -> list[str]:
        db = self._writer
        sql, params = "WHERE subject = ?", [subject]
        if tenant is not None:
            sql, params = sql + " AND tenant = ?", [subject, tenant]
        ids = [r[0] for r in db.execute(f"SELECT key_id FROM audit_subject_keys {sql}", params)]
        db.execute(f"DELETE FROM audit_subject_keys {sql}", params)
        # secure_delete zeroed the rows in the page; move the WAL's copies into the main file
        # (where the zeroed page wins) and empty it, so no old page holding the keys remains
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ids

    # ---- reading --------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self._reader.execute(sql, params).fetchall()

    async def subject_key(self, tenant: str, subject: str) -> tuple[str, bytes] | None:
        rows = await self._read(
            self._query,
            "SELECT key_id, wrapped FROM audit_subject_keys WHERE tenant = ? AND subject = ?",
            (tenant, subject),
        )
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    async def key_by_id(self, key_id: str) -> tuple[str, str, bytes] | None:
        rows = await self._read(
            self._query, "SELECT tenant, subject, wrapped FROM audit_subject_keys WHERE key_id = ?", (key_id,)
        )
        return (rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None

    async def search(self, filters: Filters) -> list[tuple]:
        sql, params = search_sql(filters, lambda n: "?")
        return await self._read(self._query, sql, params)

    async def rows(self, after: int, limit: int) -> list[tuple]:
        return await self._read(
            self._query, f"SELECT {SELECT} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )

    async def checkpoints(self) -> list[Checkpoint]:
        rows = await self._read(self._query, "SELECT seq, hash, ts, mac FROM audit_checkpoints ORDER BY seq")
        return [Checkpoint(*r) for r in rows]
