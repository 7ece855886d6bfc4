"""The agents API: personas under /v1/agents, and each user's memory under them.

Authenticated with the tenancy API key like inference: agents belong to the key's tenant,
and an agent of another tenant is a 404, exactly as one that does not exist.

    POST   /v1/agents                                   create (persona)
    GET    /v1/agents                                   list the tenant's agents
    GET    /v1/agents/{agent}                           one agent
    PATCH  /v1/agents/{agent}                           change persona fields
    DELETE /v1/agents/{agent}                           the agent and all its users' memory
    GET    /v1/agents/{agent}/users/{user}              summary, turn count, relations, and the
                                                        background jobs pending in this worker
    DELETE /v1/agents/{agent}/users/{user}              erase the user: turns, summary, memories, edges
    GET    /v1/agents/{agent}/users/{user}/memories     list (?kind=&limit=&after=) or search (?q=&limit=)
    POST   /v1/agents/{agent}/users/{user}/memories     add {"text", "importance"?}
    PATCH  /v1/agents/{agent}/users/{user}/memories/{id}   edit {"text"?, "importance"?}
    DELETE /v1/agents/{agent}/users/{user}/memories/{id}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from comox.agents import sql_agents, sql_memory
from comox.agents.memory import AgentMemory
from comox.agents.persona import Agent, agent_from_body, patched
from comox.agents.records import KINDS, Scope
from comox.agents.stage import tenant_of
from comox.server.connection import Connection
from comox.server.errors import GatewayError, bad_request
from comox.server.request import Request
from comox.server.routes import Routes

ROOT = b"/v1/agents"


def _query(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.query.decode("latin-1")).items()}


def _int(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        raise bad_request(f"{name} must be an integer.", param=name) from None
    if not lo <= value <= hi:
        raise bad_request(f"{name} must be from {lo} to {hi}.", param=name)
    return value


def _importance(body: dict) -> float | None:
    value = body.get("importance")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise bad_request("importance must be a number from 0 to 1.", param="importance")
    return float(value)


def _text(body: dict, required: bool) -> str | None:
    text = body.get("text")
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        raise bad_request("text must be a non-empty string of at most 4000 characters.", param="text")
    return text.strip()


def add_routes(
    routes: Routes,
    memory: AgentMemory,
    authenticate: Callable[[Request], Any],
    clock: Callable[[], float],
    pending: Callable[[], int] = lambda: 0,
) -> None:
    store = memory.store

    async def agent_of(tenant: str, agent_id: str) -> Agent:
        agent = await store.call(sql_agents.get_agent, tenant, agent_id)
        if agent is None:
            raise GatewayError(404, f"No agent '{agent_id}' in this tenant.", code="agent_not_found")
        return agent

    async def create(request: Request, reply: Connection) -> None:
        tenant = tenant_of(authenticate(request))
        agent = agent_from_body(request.json_object(), tenant, clock())
        await store.call(sql_agents.put_agent, agent)
        reply.send(201, orjson.dumps(agent.public()))

    async def list_all(request: Request, reply: Connection) -> None:
        agents = await store.call(sql_agents.list_agents, tenant_of(authenticate(request)))
        reply.send(200, orjson.dumps({"object": "list", "data": [a.public() for a in agents]}))

    async def under(request: Request, reply: Connection) -> None:
        tenant = tenant_of(authenticate(request))
        parts = [unquote(p) for p in request.path[len(ROOT) + 1 :].decode("utf-8", "replace").split("/")]
        agent = await agent_of(tenant, parts[0])
        method = request.method
        if len(parts) == 1:
            await on_agent(request, reply, method, agent)
        elif len(parts) >= 3 and parts[1] == "users" and parts[2]:
            scope = Scope(tenant, agent.id, parts[2])
            await on_user(request, reply, method, scope, parts[3:])
        else:
            raise GatewayError(404, "Unknown agents route.", code="unknown_route")

    async def on_agent(request: Request, reply: Connection, method: bytes, agent: Agent) -> None:
        if method == b"GET":
            reply.send(200, orjson.dumps(agent.public()))
        elif method == b"PATCH":
            changed = patched(agent, request.json_object(), clock())
            await store.call(sql_agents.put_agent, changed)
            reply.send(200, orjson.dumps(changed.public()))
        elif method == b"DELETE":
            await store.call(sql_agents.delete_agent, agent.tenant, agent.id)
            reply.send(200, orjson.dumps({"id": agent.id, "object": "agent", "deleted": True}))
        else:
            raise _not_allowed(method)

    async def on_user(
        request: Request, reply: Connection, method: bytes, scope: Scope, rest: list[str]
    ) -> None:
        if not rest:
            if method == b"GET":
                summary, upto = await store.call(sql_agents.get_summary, scope)
                turns = await store.call(sql_agents.count_turns, scope)
                edges = await store.call(sql_memory.all_edges, scope)
                body = {"user": scope.user, "agent": scope.agent, "turns": turns, "summary": summary,
                        "summary_upto_turn": upto, "relations": [e.public() for e in edges],
                        "jobs_pending": pending()}  # fmt: skip
                reply.send(200, orjson.dumps(body))
            elif method == b"DELETE":
                counts = await store.call(sql_memory.erase_scope, scope)
                memory.index.drop(scope)
                reply.send(200, orjson.dumps({"user": scope.user, "erased": counts}))
            else:
                raise _not_allowed(method)
            return
        if rest[0] != "memories" or len(rest) > 2:
            raise GatewayError(404, "Unknown agents route.", code="unknown_route")
        if len(rest) == 1:
            await on_memories(request, reply, method, scope)
        else:
            try:
                memory_id = int(rest[1])
            except ValueError:
                raise GatewayError(404, f"No memory '{rest[1]}'.", code="memory_not_found") from None
            await on_memory(request, reply, method, scope, memory_id)

    async def on_memories(request: Request, reply: Connection, method: bytes, scope: Scope) -> None:
        if method == b"GET":
            query = _query(request)
            limit = _int(query, "limit", 100, 1, 1000)
            if query.get("q"):
                found = await memory.search(scope, query["q"], limit, clock())
                data = [{**m.public(), "score": round(s, 4)} for m, s in found]
            else:
                kind = query.get("kind")
                if kind is not None and kind not in KINDS:
                    raise bad_request(f"kind must be one of {', '.join(KINDS)}.", param="kind")
                after = _int(query, "after", 0, 0, 2**62)
                data = [
                    m.public() for m in await store.call(sql_memory.list_memories, scope, kind, limit, after)
                ]
            reply.send(200, orjson.dumps({"object": "list", "data": data}))
        elif method == b"POST":
            body = request.json_object()
            text, importance = _text(body, True), _importance(body)
            items = await memory.embed_new(
                [("note", text)], [0.5 if importance is None else importance], clock(), None
            )
            ids = await memory.remember(scope, items)
            created = await store.call(sql_memory.get_memories, scope, ids)
            reply.send(201, orjson.dumps(created[0].public()))
        else:
            raise _not_allowed(method)

    async def on_memory(
        request: Request, reply: Connection, method: bytes, scope: Scope, memory_id: int
    ) -> None:
        if method == b"GET":
            found = await store.call(sql_memory.get_memories, scope, [memory_id])
        elif method == b"PATCH":
            body = request.json_object()
            text, importance = _text(body, False), _importance(body)
            vector = (await memory.embedder.embed([text]))[0] if text is not None else None
            if await store.call(sql_memory.update_memory, scope, memory_id, text, importance, vector):
                memory.index.drop(scope)
            found = await store.call(sql_memory.get_memories, scope, [memory_id])
        elif method == b"DELETE":
            if await store.call(sql_memory.delete_memories, scope, [memory_id]):
                memory.index.drop(scope)
                reply.send(200, orjson.dumps({"id": memory_id, "object": "memory", "deleted": True}))
                return
            found = []
        else:
            raise _not_allowed(method)
        if not found:
            raise GatewayError(404, f"No memory {memory_id} for this user.", code="memory_not_found")
        reply.send(200, orjson.dumps(found[0].public()))

    routes.add(b"POST", ROOT, create)
    routes.add(b"GET", ROOT, list_all)
    for method in (b"GET", b"PATCH", b"DELETE", b"POST"):
        routes.add_prefix(method, ROOT + b"/", under)


def _not_allowed(method: bytes) -> GatewayError:
    return GatewayError(
        405, f"Method {method.decode('latin-1')} is not allowed here.", code="method_not_allowed"
    )
