"""Queries on agents, turns and summaries (query functions of a `Db`; see comox.agents.db)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from comox.agents.db import Db, writes
from comox.agents.persona import Agent
from comox.agents.records import Scope
from comox.agents.window import Turn

_BODY = ("instructions", "psychology", "boundaries", "style", "examples", "metadata")
_AGENT = "id, tenant, name, body, created_at, updated_at"
SCOPE = 'tenant = ? AND agent = ? AND "user" = ?'
"""The WHERE clause every per-user query starts with (`"user"`: a reserved word in PostgreSQL)."""


def of(scope: Scope) -> tuple[str, str, str]:
    """The parameters of `SCOPE`."""
    return (scope.tenant, scope.agent, scope.user)


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
async def put_agent(db: Db, agent: Agent) -> None:
    await db.execute(
        f"INSERT INTO agents ({_AGENT}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "name = excluded.name, body = excluded.body, updated_at = excluded.updated_at",
        agent.id,
        agent.tenant,
        agent.name,
        _body(agent),
        agent.created_at,
        agent.updated_at,
    )


async def get_agent(db: Db, tenant: str, agent_id: str) -> Agent | None:
    row = await db.fetchrow(f"SELECT {_AGENT} FROM agents WHERE id = ? AND tenant = ?", agent_id, tenant)
    return _agent(row) if row else None


async def list_agents(db: Db, tenant: str) -> list[Agent]:
    rows = await db.fetch(f"SELECT {_AGENT} FROM agents WHERE tenant = ? ORDER BY created_at, id", tenant)
    return [_agent(r) for r in rows]


@writes
async def delete_agent(db: Db, tenant: str, agent_id: str) -> bool:
    """Delete the agent and everything every user said to it."""
    gone = await db.execute("DELETE FROM agents WHERE id = ? AND tenant = ?", agent_id, tenant)
    if gone:
        for table in ("turns", "summaries", "memories", "edges", "versions"):
            await db.execute(f"DELETE FROM {table} WHERE tenant = ? AND agent = ?", tenant, agent_id)
    return bool(gone)


@writes
async def add_turns(db: Db, scope: Scope, messages: Sequence[tuple[str, str]], at: float) -> list[Turn]:
    out = []
    for role, content in messages:
        turn_id = await db.fetchval(
            'INSERT INTO turns (tenant, agent, "user", role, content, created_at) '
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            *of(scope),
            role,
            content,
            at,
        )
        out.append(Turn(turn_id, role, content, at))
    return out


async def turn_exists(db: Db, scope: Scope, turn: int) -> bool:
    """Inside a write: whether the turn is still there, and (PostgreSQL) kept there until the
    write commits, so an erasure running meanwhile waits and then deletes what it wrote."""
    row = await db.fetchrow(f"SELECT 1 FROM turns WHERE {SCOPE} AND id = ?{db.share_lock}", *of(scope), turn)
    return row is not None


async def recent_turns(db: Db, scope: Scope, limit: int, before: int | None = None) -> list[Turn]:
    """The newest `limit` turns (older than turn `before` when given), oldest first."""
    sql = f"SELECT id, role, content, created_at FROM turns WHERE {SCOPE}"
    params: tuple = of(scope)
    if before is not None:
        sql, params = sql + " AND id < ?", (*params, before)
    rows = await db.fetch(sql + " ORDER BY id DESC LIMIT ?", *params, limit)
    return [Turn(*r) for r in reversed(rows)]


async def turns_between(db: Db, scope: Scope, after: int, upto: int) -> list[Turn]:
    rows = await db.fetch(
        f"SELECT id, role, content, created_at FROM turns WHERE {SCOPE} AND id > ? AND id <= ? ORDER BY id",
        *of(scope),
        after,
        upto,
    )
    return [Turn(*r) for r in rows]


async def count_turns(db: Db, scope: Scope) -> int:
    return await db.fetchval(f"SELECT count(*) FROM turns WHERE {SCOPE}", *of(scope))


async def get_summary(db: Db, scope: Scope) -> tuple[str, int]:
    """The running summary and the id of the last turn it covers ("", 0 when none)."""
    row = await db.fetchrow(f"SELECT text, upto_turn FROM summaries WHERE {SCOPE}", *of(scope))
    return (row[0], row[1]) if row else ("", 0)


@writes
async def put_summary(db: Db, scope: Scope, text: str, upto: int, at: float) -> None:
    """Not stored when the turns it covers are gone (the user was erased meanwhile)."""
    if not await turn_exists(db, scope, upto):
        return
    await db.execute(
        'INSERT INTO summaries (tenant, agent, "user", text, upto_turn, updated_at) VALUES (?, ?, ?, ?, ?, ?) '
        'ON CONFLICT (tenant, agent, "user") DO UPDATE SET '
        "text = excluded.text, upto_turn = excluded.upto_turn, updated_at = excluded.updated_at",
        *of(scope),
        text,
        upto,
        at,
    )


async def context_rows(db: Db, scope: Scope, window: int) -> tuple[list[Turn], str, int]:
    """What every assembly reads, in one call: the recent turns, the summary and the index
    version."""
    from comox.agents.sql_memory import version

    return await recent_turns(db, scope, window), (await get_summary(db, scope))[0], await version(db, scope)
