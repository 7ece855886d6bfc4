"""Queries on memories, edges, index versions and erasure (query functions of a `Db`).

Every function takes the full `Scope` (tenant, agent, user) and puts all three in its WHERE
clause: no query can read or change another user's memory. Each change to what the
in-process index holds bumps the scope's version, so other workers and replicas know to
reload it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from comox.agents.db import Db, marks, snapshot, writes
from comox.agents.records import Edge, Memory, Scope
from comox.agents.sql_agents import SCOPE, of, turn_exists

_MEMORY = "id, kind, text, importance, created_at, source_turn, valid_to, stale, hits, last_used, category"
_TABLES = ("turns", "summaries", "memories", "edges")
"""A user's rows, in the order erasure deletes them: turns first, so a write that checked
its turn (`turn_exists`) finishes before the memories and edges it adds are deleted."""


@dataclass(frozen=True, slots=True)
class NewMemory:
    kind: str
    text: str
    vector: np.ndarray
    importance: float
    created_at: float
    source_turn: int | None = None
    category: str = ""


def _memory(row: tuple) -> Memory:
    return Memory(*row[:7], bool(row[7]), *row[8:])


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, np.float32).tobytes()


async def version(db: Db, scope: Scope) -> int:
    return await db.fetchval(f"SELECT version FROM versions WHERE {SCOPE}", *of(scope)) or 0


async def _bump(db: Db, scope: Scope) -> int:
    return await db.fetchval(
        'INSERT INTO versions (tenant, agent, "user", version) VALUES (?, ?, ?, 1) '
        'ON CONFLICT (tenant, agent, "user") DO UPDATE SET version = versions.version + 1 RETURNING version',
        *of(scope),
    )


@writes
async def add_memories(db: Db, scope: Scope, items: Sequence[NewMemory]) -> tuple[list[int | None], int]:
    """Ids of the new memories and the scope's new version. A memory whose source turn is
    gone is not stored (None): the user was erased while its job waited in the queue."""
    ids: list[int | None] = []
    for m in items:
        if m.source_turn is not None and not await turn_exists(db, scope, m.source_turn):
            ids.append(None)
            continue
        ids.append(
            await db.fetchval(
                'INSERT INTO memories (tenant, agent, "user", kind, text, category, importance, created_at, '
                "source_turn, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                *of(scope),
                m.kind,
                m.text,
                m.category,
                m.importance,
                m.created_at,
                m.source_turn,
                _blob(m.vector),
            )
        )
    return ids, await _bump(db, scope)


@snapshot
async def index_rows(db: Db, scope: Scope) -> tuple[list[tuple], int]:
    """Everything the in-process index needs, and the version it is at (one snapshot: this
    worker's own write committing between the two reads would otherwise be in the rows and
    then appended again by `IndexCache.add`)."""
    at = await version(db, scope)
    rows = await db.fetch(
        "SELECT id, embedding, created_at, importance, valid_to IS NULL, stale, "
        f"CASE WHEN kind = 'turn' THEN source_turn ELSE -1 END FROM memories WHERE {SCOPE} ORDER BY id",
        *of(scope),
    )
    return rows, at


async def get_memories(db: Db, scope: Scope, ids: Sequence[int]) -> list[Memory]:
    """The memories with these ids in this scope, in the order of `ids`."""
    if not ids:
        return []
    rows = await db.fetch(
        f"SELECT {_MEMORY} FROM memories WHERE {SCOPE} AND id IN ({marks(len(ids))})", *of(scope), *ids
    )
    by_id = {r[0]: _memory(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


async def list_memories(db: Db, scope: Scope, kind: str | None, limit: int, after: int) -> list[Memory]:
    sql = f"SELECT {_MEMORY} FROM memories WHERE {SCOPE} AND id > ?"
    params: tuple = (*of(scope), after)
    if kind is not None:
        sql, params = sql + " AND kind = ?", (*params, kind)
    return [_memory(r) for r in await db.fetch(sql + " ORDER BY id LIMIT ?", *params, limit)]


@writes
async def update_memory(
    db: Db,
    scope: Scope,
    memory_id: int,
    text: str | None,
    importance: float | None,
    vector: np.ndarray | None,
) -> bool:
    sets, params = [], []
    if text is not None:
        sets += ["text = ?", "embedding = ?"]
        params += [text, _blob(vector)]
    if importance is not None:
        sets.append("importance = ?")
        params.append(importance)
    if not sets:
        return await get_memories(db, scope, [memory_id]) != []
    changed = await db.execute(
        f"UPDATE memories SET {', '.join(sets)} WHERE {SCOPE} AND id = ?", *params, *of(scope), memory_id
    )
    if changed:
        await _bump(db, scope)
    return bool(changed)


@writes
async def delete_memories(db: Db, scope: Scope, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    among = f"IN ({marks(len(ids))})"
    gone = await db.execute(f"DELETE FROM memories WHERE {SCOPE} AND id {among}", *of(scope), *ids)
    await db.execute(f"DELETE FROM edges WHERE {SCOPE} AND memory {among}", *of(scope), *ids)
    if gone:
        await _bump(db, scope)
    return gone


@writes
async def touch(db: Db, scope: Scope, ids: Sequence[int], at: float) -> None:
    """Count a retrieval (not an index change: no version bump)."""
    await db.executemany(
        f"UPDATE memories SET hits = hits + 1, last_used = ? WHERE {SCOPE} AND id = ?",
        [(at, *of(scope), i) for i in ids],
    )


# ---- edges ----------------------------------------------------------------------------------


_EDGE = "id, subject, relation, object, valid_from, valid_to, memory"


async def current_edges(db: Db, scope: Scope) -> list[Edge]:
    rows = await db.fetch(
        f"SELECT {_EDGE} FROM edges WHERE {SCOPE} AND valid_to IS NULL ORDER BY id", *of(scope)
    )
    return [Edge(*r) for r in rows]


async def all_edges(db: Db, scope: Scope) -> list[Edge]:
    return [
        Edge(*r) for r in await db.fetch(f"SELECT {_EDGE} FROM edges WHERE {SCOPE} ORDER BY id", *of(scope))
    ]


@writes
async def apply_edge(
    db: Db,
    scope: Scope,
    close: Iterable[int],
    new: tuple[str, str, str] | None,
    memory: int | None,
    at: float,
) -> int:
    """Close the contradicted edges (and supersede the facts they came with, and mark the
    turns those facts came from as stale), then insert the new edge, unless the fact it comes
    with is gone (the user was erased meanwhile). The new version."""
    close = list(close)
    for edge_id in close:
        fact = await db.fetchrow(
            f"UPDATE edges SET valid_to = ? WHERE {SCOPE} AND id = ? AND valid_to IS NULL RETURNING memory",
            at,
            *of(scope),
            edge_id,
        )
        if fact and fact[0] is not None:
            src = await db.fetchrow(
                f"UPDATE memories SET valid_to = ? WHERE {SCOPE} AND id = ? RETURNING source_turn",
                at,
                *of(scope),
                fact[0],
            )
            if src and src[0] is not None:
                await db.execute(
                    f"UPDATE memories SET stale = 1 WHERE {SCOPE} AND kind = 'turn' AND source_turn = ?",
                    *of(scope),
                    src[0],
                )
    if new is not None and (memory is None or await _memory_exists(db, scope, memory)):
        await db.execute(
            'INSERT INTO edges (tenant, agent, "user", subject, relation, object, valid_from, memory) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            *of(scope),
            *new,
            at,
            memory,
        )
    return await _bump(db, scope) if close else await version(db, scope)


async def _memory_exists(db: Db, scope: Scope, memory: int) -> bool:
    """Inside a write: whether the memory is still there (locked until the write commits)."""
    sql = f"SELECT 1 FROM memories WHERE {SCOPE} AND id = ?{db.share_lock}"
    return await db.fetchrow(sql, *of(scope), memory) is not None


# ---- erasure ----------------------------------------------------------------------------------


@writes
async def erase_scope(db: Db, scope: Scope) -> dict[str, int]:
    """Everything of one user with one agent: turns, summary, memories, edges."""
    counts = {}
    for table in _TABLES:
        counts[table] = await db.execute(f"DELETE FROM {table} WHERE {SCOPE}", *of(scope))
    await _bump(db, scope)
    return counts


@writes
async def erase_user(db: Db, user: str, tenant: str | None) -> list[Scope]:
    """Everything of one user with every agent (of one tenant, or of all): the scopes erased
    (those rows were deleted from, read from the deletions themselves)."""
    where, params = (
        ('"user" = ?', (user,)) if tenant is None else ('"user" = ? AND tenant = ?', (user, tenant))
    )
    scopes: set[Scope] = set()
    for table in _TABLES:
        rows = await db.fetch(f'DELETE FROM {table} WHERE {where} RETURNING tenant, agent, "user"', *params)
        scopes.update(Scope(*r) for r in rows)
    erased = sorted(scopes, key=lambda s: (s.tenant, s.agent))
    for scope in erased:  # in one order everywhere: concurrent erasures lock versions rows in turn
        await _bump(db, scope)
    return erased


async def scopes(db: Db) -> list[Scope]:
    rows = await db.fetch('SELECT tenant, agent, "user" FROM versions ORDER BY tenant, agent, "user"')
    return [Scope(*r) for r in rows]


# ---- consolidation ----------------------------------------------------------------------------


async def fact_vectors(db: Db, scope: Scope) -> list[tuple[int, bytes, float, float]]:
    """Current facts and notes: (id, embedding, created_at, importance), oldest first."""
    return await db.fetch(
        f"SELECT id, embedding, created_at, importance FROM memories WHERE {SCOPE} "
        "AND kind IN ('fact', 'note') AND valid_to IS NULL ORDER BY id",
        *of(scope),
    )


async def unused_turns(db: Db, scope: Scope, before: float) -> list[Memory]:
    """Past-turn memories older than `before` that no prompt ever used, oldest first."""
    rows = await db.fetch(
        f"SELECT {_MEMORY} FROM memories WHERE {SCOPE} AND kind = 'turn' AND hits = 0 "
        "AND created_at < ? ORDER BY id",
        *of(scope),
        before,
    )
    return [_memory(r) for r in rows]


@writes
async def merge(db: Db, scope: Scope, keep: int, drop: Sequence[int], importance: float) -> None:
    """Fold duplicates into `keep`: it takes their best importance and their hits; edges that
    pointed at a dropped fact point at the kept one."""
    among = f"IN ({marks(len(drop))})"
    hits = await db.fetchval(
        f"SELECT COALESCE(SUM(hits), 0) FROM memories WHERE {SCOPE} AND id {among}", *of(scope), *drop
    )
    await db.execute(
        f"UPDATE memories SET importance = ?, hits = hits + ? WHERE {SCOPE} AND id = ?",
        importance,
        hits,
        *of(scope),
        keep,
    )
    await db.execute(f"UPDATE edges SET memory = ? WHERE {SCOPE} AND memory {among}", keep, *of(scope), *drop)
    await db.execute(f"DELETE FROM memories WHERE {SCOPE} AND id {among}", *of(scope), *drop)
    await _bump(db, scope)
