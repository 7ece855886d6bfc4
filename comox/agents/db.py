"""What the agents' query functions see of a database: one small interface, two dialects.

The queries (`comox.agents.sql_agents`, `comox.agents.sql_memory`) are written once, as
`async def fn(db, ...)` against `Db`, in the SQL both SQLite and PostgreSQL accept: `?`
placeholders (the PostgreSQL side numbers them), `"user"` quoted (a reserved word there),
`RETURNING` for new ids. What differs is only how a call runs:

- SQLite (`store_sqlite.py`): the methods are coroutines that never suspend (sqlite3 answers
  at once), so the store's thread runs a whole query function to its end with `run_to_end`,
  in one trip off the event loop and one transaction, as before.
- PostgreSQL (`store_postgres.py`): the same function runs on the event loop, each `await`
  a round trip on a pooled asyncpg connection, inside a transaction when it writes.

`db.share_lock` is the one place the SQL differs: a read that a write depends on (does the
turn still exist?) locks the row in PostgreSQL, where writers run concurrently; SQLite
transactions already run one at a time (`BEGIN IMMEDIATE`). A query function is a read unless
marked: `@writes` (one transaction) or `@snapshot` (reads that must see one state).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Db(Protocol):
    share_lock: str
    """Appended to a SELECT whose rows a write relies on: " FOR SHARE" or ""."""

    async def fetch(self, sql: str, *args: Any) -> list[tuple]: ...

    async def fetchrow(self, sql: str, *args: Any) -> tuple | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row; None when there is no row."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement: the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


def writes(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a query function as a write: the store runs it in one transaction (and, in
    PostgreSQL, runs it again when the transaction lost a deadlock)."""
    fn.writes = True  # type: ignore[attr-defined]
    return fn


def snapshot(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a read whose statements must all see one state of the database (a version and
    the rows it stands for): the store runs it in one read-only transaction."""
    fn.snapshot = True  # type: ignore[attr-defined]
    return fn


def is_write(fn: Callable[..., Any]) -> bool:
    return getattr(fn, "writes", False)


def is_snapshot(fn: Callable[..., Any]) -> bool:
    return getattr(fn, "snapshot", False)


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (every await it makes resolves at once) to its end,
    without an event loop: how the SQLite store runs query functions on its own thread."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(
        f"{coro.__qualname__} awaited something that suspends; query functions may only await db"
    )


def marks(n: int) -> str:
    """`?, ?, ?` for an IN list of n values."""
    return ", ".join("?" * n)
