"""Queries on memories, edges, index versions and erasure (functions of a sqlite3 connection).

Every function takes the full `Scope` (tenant, agent, user) and puts all three in its WHERE
clause: no query can read or change another user's memory. Each change to what the
in-process index holds bumps the scope's version, so other workers know to reload it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from comox.agents.records import Edge, Memory, Scope
from comox.agents.store import writes

_SCOPE = "tenant = ? AND agent = ? AND user = ?"
_MEMORY = "id, kind, text, importance, created_at, source_turn, valid_to, stale, hits, last_used, category"


@dataclass(frozen=True, slots=True)
class NewMemory:
    kind: str
    text: str
    vector: np.ndarray
    importance: float
    created_at: float
    source_turn: int | None = None
    category: str = ""


def _s(scope: Scope) -> tuple[str, str, str]:
    return (scope.tenant, scope.agent, scope.user)


def _memory(row: tuple) -> Memory:
    return Memory(*row[:7], bool(row[7]), *row[8:])


def version(db: sqlite3.Connection, scope: Scope) -> int:
    row = db.execute(f"SELECT version FROM versions WHERE {_SCOPE}", _s(scope)).fetchone()
    return row[0] if row else 0


def _bump(db: sqlite3.Connection, scope: Scope) -> int:
    db.execute(
        "INSERT INTO versions VALUES (?, ?, ?, 1) ON CONFLICT (tenant, agent, user) "
        "DO UPDATE SET version = version + 1",
        _s(scope),
    )
    return version(db, scope)


@writes
def add_memories(
    db: sqlite3.Connection, scope: Scope, items: Sequence[NewMemory]
) -> tuple[list[int | None], int]:
    """Ids of the new memories and the scope's new version. A memory whose source turn is
    gone is not stored (None): the user was erased while its job waited in the queue."""
    ids: list[int | None] = []
    for m in items:
        if m.source_turn is not None and not turn_exists(db, scope, m.source_turn):
            ids.append(None)
            continue
        cur = db.execute(
            "INSERT INTO memories (tenant, agent, user, kind, text, category, importance, created_at, "
            "source_turn, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *_s(scope),
                m.kind,
                m.text,
                m.category,
                m.importance,
                m.created_at,
                m.source_turn,
                np.asarray(m.vector, np.float32).tobytes(),
            ),
        )
        ids.append(cur.lastrowid)
    return ids, _bump(db, scope)


def turn_exists(db: sqlite3.Connection, scope: Scope, turn: int) -> bool:
    return (
        db.execute(f"SELECT 1 FROM turns WHERE {_SCOPE} AND id = ?", (*_s(scope), turn)).fetchone()
        is not None
    )


def index_rows(db: sqlite3.Connection, scope: Scope) -> tuple[list[tuple], int]:
    """Everything the in-process index needs, and the version it corresponds to."""
    rows = db.execute(
        "SELECT id, embedding, created_at, importance, valid_to IS NULL, stale, "
        f"CASE WHEN kind = 'turn' THEN source_turn ELSE -1 END FROM memories WHERE {_SCOPE} ORDER BY id",
        _s(scope),
    ).fetchall()
    return rows, version(db, scope)


def get_memories(db: sqlite3.Connection, scope: Scope, ids: Sequence[int]) -> list[Memory]:
    """The memories with these ids in this scope, in the order of `ids`."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        f"SELECT {_MEMORY} FROM memories WHERE {_SCOPE} AND id IN ({marks})", (*_s(scope), *ids)
    )
    by_id = {r[0]: _memory(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def list_memories(
    db: sqlite3.Connection, scope: Scope, kind: str | None, limit: int, after: int
) -> list[Memory]:
    sql = f"SELECT {_MEMORY} FROM memories WHERE {_SCOPE} AND id > ?"
    params: tuple = (*_s(scope), after)
    if kind is not None:
        sql, params = sql + " AND kind = ?", (*params, kind)
    return [_memory(r) for r in db.execute(sql + " ORDER BY id LIMIT ?", (*params, limit))]


def vectors_of(db: sqlite3.Connection, scope: Scope, ids: Sequence[int]) -> dict[int, np.ndarray]:
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        f"SELECT id, embedding FROM memories WHERE {_SCOPE} AND id IN ({marks})", (*_s(scope), *ids)
    )
    return {i: np.frombuffer(b, np.float32) for i, b in rows}


@writes
def update_memory(
    db: sqlite3.Connection,
    scope: Scope,
    memory_id: int,
    text: str | None,
    importance: float | None,
    vector: np.ndarray | None,
) -> bool:
    sets, params = [], []
    if text is not None:
        sets += ["text = ?", "embedding = ?"]
        params += [text, np.asarray(vector, np.float32).tobytes()]
    if importance is not None:
        sets.append("importance = ?")
        params.append(importance)
    if not sets:
        return get_memories(db, scope, [memory_id]) != []
    cur = db.execute(
        f"UPDATE memories SET {', '.join(sets)} WHERE {_SCOPE} AND id = ?", (*params, *_s(scope), memory_id)
    )
    if cur.rowcount:
        _bump(db, scope)
    return bool(cur.rowcount)


@writes
def delete_memories(db: sqlite3.Connection, scope: Scope, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    gone = db.execute(f"DELETE FROM memories WHERE {_SCOPE} AND id IN ({marks})", (*_s(scope), *ids)).rowcount
    db.execute(f"DELETE FROM edges WHERE {_SCOPE} AND memory IN ({marks})", (*_s(scope), *ids))
    if gone:
        _bump(db, scope)
    return gone


@writes
def touch(db: sqlite3.Connection, scope: Scope, ids: Sequence[int], at: float) -> None:
    """Count a retrieval (not an index change: no version bump)."""
    db.executemany(
        f"UPDATE memories SET hits = hits + 1, last_used = ? WHERE {_SCOPE} AND id = ?",
        [(at, *_s(scope), i) for i in ids],
    )


# ---- edges ----------------------------------------------------------------------------------


def _edge(row: tuple) -> Edge:
    return Edge(*row)


_EDGE = "id, subject, relation, object, valid_from, valid_to, memory"


def current_edges(db: sqlite3.Connection, scope: Scope) -> list[Edge]:
    rows = db.execute(f"SELECT {_EDGE} FROM edges WHERE {_SCOPE} AND valid_to IS NULL ORDER BY id", _s(scope))
    return [_edge(r) for r in rows]


def all_edges(db: sqlite3.Connection, scope: Scope) -> list[Edge]:
    return [_edge(r) for r in db.execute(f"SELECT {_EDGE} FROM edges WHERE {_SCOPE} ORDER BY id", _s(scope))]


@writes
def apply_edge(
    db: sqlite3.Connection,
    scope: Scope,
    close: Iterable[int],
    new: tuple[str, str, str] | None,
    memory: int | None,
    at: float,
) -> int:
    """Close the contradicted edges (and supersede the facts they came with, and mark the
    turns those facts came from as stale), then insert the new edge. The new version."""
    close = list(close)
    for edge_id in close:
        row = db.execute(
            f"UPDATE edges SET valid_to = ? WHERE {_SCOPE} AND id = ? AND valid_to IS NULL RETURNING memory",
            (at, *_s(scope), edge_id),
        ).fetchone()
        if row and row[0] is not None:
            src = db.execute(
                f"UPDATE memories SET valid_to = ? WHERE {_SCOPE} AND id = ? RETURNING source_turn",
                (at, *_s(scope), row[0]),
            ).fetchone()
            if src and src[0] is not None:
                db.execute(
                    f"UPDATE memories SET stale = 1 WHERE {_SCOPE} AND kind = 'turn' AND source_turn = ?",
                    (*_s(scope), src[0]),
                )
    if new is not None:
        db.execute(
            "INSERT INTO edges (tenant, agent, user, subject, relation, object, valid_from, memory) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*_s(scope), *new, at, memory),
        )
    return _bump(db, scope) if close else version(db, scope)


# ---- erasure ----------------------------------------------------------------------------------


@writes
def erase_scope(db: sqlite3.Connection, scope: Scope) -> dict[str, int]:
    """Everything of one user with one agent: turns, summary, memories, edges."""
    counts = {}
    for table in ("turns", "summaries", "memories", "edges"):
        counts[table] = db.execute(f"DELETE FROM {table} WHERE {_SCOPE}", _s(scope)).rowcount
    _bump(db, scope)
    return counts


@writes
def erase_user(db: sqlite3.Connection, user: str, tenant: str | None) -> list[Scope]:
    """Everything of one user with every agent (of one tenant, or of all): the scopes erased."""
    where, params = ("user = ?", (user,)) if tenant is None else ("user = ? AND tenant = ?", (user, tenant))
    scopes = {
        Scope(*r)
        for table in ("turns", "memories", "edges", "summaries")
        for r in db.execute(f"SELECT DISTINCT tenant, agent, user FROM {table} WHERE {where}", params)
    }
    for table in ("turns", "summaries", "memories", "edges"):
        db.execute(f"DELETE FROM {table} WHERE {where}", params)
    for scope in scopes:
        _bump(db, scope)
    return sorted(scopes, key=lambda s: (s.tenant, s.agent))


def scopes(db: sqlite3.Connection) -> list[Scope]:
    return [
        Scope(*r) for r in db.execute("SELECT tenant, agent, user FROM versions ORDER BY tenant, agent, user")
    ]


# ---- consolidation ----------------------------------------------------------------------------


def fact_vectors(db: sqlite3.Connection, scope: Scope) -> list[tuple[int, bytes, float, float]]:
    """Current facts and notes: (id, embedding, created_at, importance), oldest first."""
    return db.execute(
        f"SELECT id, embedding, created_at, importance FROM memories WHERE {_SCOPE} "
        "AND kind IN ('fact', 'note') AND valid_to IS NULL ORDER BY id",
        _s(scope),
    ).fetchall()


def unused_turns(db: sqlite3.Connection, scope: Scope, before: float) -> list[Memory]:
    """Past-turn memories older than `before` that no prompt ever used, oldest first."""
    rows = db.execute(
        f"SELECT {_MEMORY} FROM memories WHERE {_SCOPE} AND kind = 'turn' AND hits = 0 "
        "AND created_at < ? ORDER BY id",
        (*_s(scope), before),
    )
    return [_memory(r) for r in rows]


@writes
def merge(db: sqlite3.Connection, scope: Scope, keep: int, drop: Sequence[int], importance: float) -> None:
    """Fold duplicates into `keep`: it takes their best importance and their hits; edges that
    pointed at a dropped fact point at the kept one."""
    marks = ",".join("?" * len(drop))
    hits = db.execute(
        f"SELECT COALESCE(SUM(hits), 0) FROM memories WHERE {_SCOPE} AND id IN ({marks})", (*_s(scope), *drop)
    ).fetchone()[0]
    db.execute(
        f"UPDATE memories SET importance = ?, hits = hits + ? WHERE {_SCOPE} AND id = ?",
        (importance, hits, *_s(scope), keep),
    )
    db.execute(
        f"UPDATE edges SET memory = ? WHERE {_SCOPE} AND memory IN ({marks})", (keep, *_s(scope), *drop)
    )
    db.execute(f"DELETE FROM memories WHERE {_SCOPE} AND id IN ({marks})", (*_s(scope), *drop))
    _bump(db, scope)
