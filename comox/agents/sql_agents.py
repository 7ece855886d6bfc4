"""Queries on agents, turns and summaries (functions of a sqlite3 connection; see store.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from comox.agents.persona import Agent
from comox.agents.records import Scope
from comox.agents.store import writes
from comox.agents.window import Turn

_BODY = ("instructions", "psychology", "boundaries", "style", "examples", "metadata")


def _agent(row: tuple) -> Agent:
    id_, tenant, name, body, created, updated = row
    fields = orjson.loads(body)
    fields["examples"] = tuple(fields.get("examples", ()))
    return Agent(id_, tenant, name, created_at=created, updated_at=updated, **fields)


def _body(agent: Agent) -> str:
    fields = {k: getattr(agent, k) for k in _BODY}
    fields["examples"] = list(agent.examples)
    return orjson.dumps(fields).decode()


@writes
def put_agent(db: sqlite3.Connection, agent: Agent) -> None:
    db.execute(
        "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "name = excluded.name, body = excluded.body, updated_at = excluded.updated_at",
        (agent.id, agent.tenant, agent.name, _body(agent), agent.created_at, agent.updated_at),
    )


def get_agent(db: sqlite3.Connection, tenant: str, agent_id: str) -> Agent | None:
    row = db.execute("SELECT * FROM agents WHERE id = ? AND tenant = ?", (agent_id, tenant)).fetchone()
    return _agent(row) if row else None


def list_agents(db: sqlite3.Connection, tenant: str) -> list[Agent]:
    rows = db.execute("SELECT * FROM agents WHERE tenant = ? ORDER BY created_at, id", (tenant,))
    return [_agent(r) for r in rows]


@writes
def delete_agent(db: sqlite3.Connection, tenant: str, agent_id: str) -> bool:
    """Delete the agent and everything every user said to it."""
    gone = db.execute("DELETE FROM agents WHERE id = ? AND tenant = ?", (agent_id, tenant)).rowcount
    if gone:
        for table in ("turns", "summaries", "memories", "edges", "versions"):
            db.execute(f"DELETE FROM {table} WHERE tenant = ? AND agent = ?", (tenant, agent_id))
    return bool(gone)


@writes
def add_turns(
    db: sqlite3.Connection, scope: Scope, messages: Sequence[tuple[str, str]], at: float
) -> list[Turn]:
    out = []
    for role, content in messages:
        cur = db.execute(
            "INSERT INTO turns (tenant, agent, user, role, content, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (scope.tenant, scope.agent, scope.user, role, content, at),
        )
        out.append(Turn(cur.lastrowid, role, content, at))
    return out


def recent_turns(db: sqlite3.Connection, scope: Scope, limit: int, before: int | None = None) -> list[Turn]:
    """The newest `limit` turns (older than turn `before` when given), oldest first."""
    sql = "SELECT id, role, content, created_at FROM turns WHERE tenant = ? AND agent = ? AND user = ?"
    params: tuple = (scope.tenant, scope.agent, scope.user)
    if before is not None:
        sql, params = sql + " AND id < ?", (*params, before)
    rows = db.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    return [Turn(*r) for r in reversed(rows)]


def turns_between(db: sqlite3.Connection, scope: Scope, after: int, upto: int) -> list[Turn]:
    rows = db.execute(
        "SELECT id, role, content, created_at FROM turns WHERE tenant = ? AND agent = ? AND user = ? "
        "AND id > ? AND id <= ? ORDER BY id",
        (scope.tenant, scope.agent, scope.user, after, upto),
    )
    return [Turn(*r) for r in rows]


def count_turns(db: sqlite3.Connection, scope: Scope) -> int:
    return db.execute(
        "SELECT count(*) FROM turns WHERE tenant = ? AND agent = ? AND user = ?",
        (scope.tenant, scope.agent, scope.user),
    ).fetchone()[0]


def get_summary(db: sqlite3.Connection, scope: Scope) -> tuple[str, int]:
    """The running summary and the id of the last turn it covers ("", 0 when none)."""
    row = db.execute(
        "SELECT text, upto_turn FROM summaries WHERE tenant = ? AND agent = ? AND user = ?",
        (scope.tenant, scope.agent, scope.user),
    ).fetchone()
    return (row[0], row[1]) if row else ("", 0)


@writes
def put_summary(db: sqlite3.Connection, scope: Scope, text: str, upto: int, at: float) -> None:
    """Not stored when the turns it covers are gone (the user was erased meanwhile)."""
    if not db.execute(
        "SELECT 1 FROM turns WHERE tenant = ? AND agent = ? AND user = ? AND id = ?",
        (scope.tenant, scope.agent, scope.user, upto),
    ).fetchone():
        return
    db.execute(
        "INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, agent, user) DO UPDATE SET "
        "text = excluded.text, upto_turn = excluded.upto_turn, updated_at = excluded.updated_at",
        (scope.tenant, scope.agent, scope.user, text, upto, at),
    )


def context_rows(db: sqlite3.Connection, scope: Scope, window: int) -> tuple[list[Turn], str, int]:
    """What every assembly reads, in one trip to the store's thread: the recent turns, the
    summary and the index version."""
    from comox.agents.sql_memory import version

    return recent_turns(db, scope, window), get_summary(db, scope)[0], version(db, scope)
