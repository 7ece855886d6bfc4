"""The agent stage: a chat call with `x-comox-agent` gets its prompt assembled from memory.

admit: the client sent only its new message(s) and the end user in `user`; the stage
replaces `messages` with persona + memories + relations + summary + recent turns + the new
messages (comox.agents.prompt) and taps the answer. Before the end of the answer reaches
the client (`before_complete`) the exchange is stored, so the user's next message always
sees it; extraction, summarisation and embedding are queued for the background worker.
A stream's `[DONE]` event reaches the client before that hook runs, so a client may send
its next message first: the next call of the same user waits (up to `STORE_WAIT` s) for the
previous exchange to be stored. Calls without the header cost one dict lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from comox.agents import sql_agents, sql_memory
from comox.agents.jobs import Exchange, JobQueue, MemoryWorker
from comox.agents.memory import AgentMemory
from comox.agents.persona import render
from comox.agents.prompt import assemble
from comox.agents.records import Scope
from comox.api.call import Call
from comox.server.errors import GatewayError, bad_request

log = logging.getLogger("comox.agents")
HEADER = b"x-comox-agent"
STATE = "agent"
MAX_ANSWER_BYTES = 4 * 1024 * 1024
STORE_WAIT = 5.0
NO_TENANT = "-"
"""The tenant of agents when the gateway runs without keys."""


def tenant_of(principal: Any) -> str:
    return getattr(principal, "tenant", None) or NO_TENANT


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def answer_text(body: bytes, stream: bool) -> str:
    """The assistant's text from the answer as the client got it (SSE or one JSON body)."""
    if not stream:
        try:
            message = orjson.loads(body)["choices"][0]["message"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return ""
        return content_text(message.get("content")) if isinstance(message, dict) else ""
    parts: list[str] = []
    for line in body.split(b"\n"):
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        try:
            choices = orjson.loads(line[5:]).get("choices") or []
        except (orjson.JSONDecodeError, AttributeError):
            continue
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                piece = (choice.get("delta") or {}).get("content")
                if isinstance(piece, str):
                    parts.append(piece)
    return "".join(parts)


def streamed_to_the_end(chunks: list[bytes]) -> bool:
    """Whether the client got a stream's final `data: [DONE]` event."""
    return b"".join(chunks[-2:]).rstrip().endswith(b"data: [DONE]")


@dataclass(slots=True)
class Pending:
    scope: Scope
    said: list[tuple[str, str]]
    """The client's new user (and assistant) messages, as sent (before any redaction)."""
    stored: asyncio.Future
    """Done once the exchange is stored (or will not be): the user's next call waits on it."""
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    task: asyncio.Task | None = None

    def tap(self, data: bytes) -> None:
        if self.size < MAX_ANSWER_BYTES:
            self.chunks.append(data)
            self.size += len(data)


@dataclass(slots=True)
class StageStats:
    calls: int = 0
    stored: int = 0
    memories_used: int = 0
    assembly_seconds: float = 0.0


class AgentStage:
    def __init__(
        self,
        memory: AgentMemory,
        worker: MemoryWorker,
        queue: JobQueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.memory = memory
        self.config = memory.config
        self.worker = worker
        self.queue = queue
        self.clock = clock
        self.stats = StageStats()
        self._storing: dict[Scope, asyncio.Future] = {}
        self._unawaited: set[asyncio.Task] = set()
        """Stores started by `settle`, which nobody awaits: kept until they end."""

    @property
    def storing(self) -> int:
        """Exchanges being stored right now (their jobs are not queued yet)."""
        return sum(not f.done() for f in self._storing.values())

    def admit(self, call: Call):
        raw = call.request.headers.get(HEADER)
        if raw is None:
            return None
        return self._admit(call, raw.decode("utf-8", "replace").strip())

    async def _admit(self, call: Call, agent_id: str) -> None:
        if call.api != "chat":
            raise bad_request(
                "Agents answer conversations: POST /v1/chat/completions, /v1/messages or /v1/responses.",
                param="x-comox-agent",
            )
        user = call.payload.get("user")  # Anthropic's metadata.user_id arrives here, translated
        if not isinstance(user, str) or not user.strip():
            raise bad_request(
                "An agent call needs the end user's id, since memory is kept per user: the 'user' "
                "field (OpenAI chat, Responses) or 'metadata.user_id' (Anthropic Messages).",
                param="user",
            )
        tenant = tenant_of(call.principal)
        agent = await self.memory.store.call(sql_agents.get_agent, tenant, agent_id)
        if agent is None:
            raise GatewayError(404, f"No agent '{agent_id}' in this tenant.", code="agent_not_found")
        started = time.perf_counter()
        scope = Scope(tenant, agent.id, user)
        previous = self._storing.get(scope)
        if previous is not None and not previous.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(previous), STORE_WAIT)
        stored = asyncio.get_running_loop().create_future()
        self._storing[scope] = stored
        new = call.payload["messages"]
        said = [
            (m["role"], content_text(m.get("content")))
            for m in new
            if m.get("role") in ("user", "assistant") and content_text(m.get("content"))
        ]
        query = "\n".join(text for role, text in said if role == "user")
        ctx = await self.memory.context(scope, query, self.clock())
        c = self.config
        assembly = assemble(
            render(agent),
            [dict(m) for m in new],
            ctx.recent,
            ctx.memories,
            ctx.edges,
            ctx.summary,
            c.token_budget,
            c.memory_share,
            c.window_turns,
        )
        call.payload["messages"] = assembly.messages
        call.payload_changed = True
        pending = Pending(scope, said, stored)
        call.request.state[STATE] = pending
        call.chat_taps = (*call.chat_taps, pending.tap)  # chat whatever the client's API family
        call.before_complete = (*call.before_complete, self._store)
        call.notes["agent"] = {
            "agent": agent.id,
            "memories": len(assembly.memories),
            "relations": assembly.edges,
            "summary": assembly.summary,
            "turns": assembly.turns,
            "prompt_tokens_estimate": assembly.tokens,
        }
        call.response_headers += b"x-comox-agent-memories: %d\r\n" % len(assembly.memories)
        if assembly.memories:
            self.queue.put(
                lambda: self.memory.store.call(sql_memory.touch, scope, assembly.memories, self.clock())
            )
        self.stats.calls += 1
        self.stats.memories_used += len(assembly.memories)
        self.stats.assembly_seconds += time.perf_counter() - started

    async def _store(self, call: Call) -> None:
        """Store the exchange in a task of its own: a client that closes the stream as soon
        as it read `[DONE]` cancels the request, and must not cancel the store with it."""
        pending: Pending | None = call.request.state.get(STATE)
        if pending is not None:
            await asyncio.shield(self._start(call, pending))

    def _start(self, call: Call, pending: Pending) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._store_exchange(call, pending))
        pending.task = task
        task.add_done_callback(lambda _: self._done(pending))
        return task

    def _done(self, pending: Pending) -> None:
        if not pending.stored.done():
            pending.stored.set_result(None)
        if self._storing.get(pending.scope) is pending.stored:
            del self._storing[pending.scope]

    async def _store_exchange(self, call: Call, pending: Pending) -> None:
        if call.error is not None or call.status != 200 or not pending.said:
            return
        answer = answer_text(b"".join(pending.chunks), call.stream)
        now = self.clock()
        turns = await self.memory.store.call(
            sql_agents.add_turns, pending.scope, [*pending.said, ("assistant", answer)], now
        )
        user_turns = [t for t in turns[:-1] if t.role == "user"] or turns[:-1]
        user_text = "\n".join(t.content for t in user_turns)
        self.stats.stored += 1
        self.worker.after_exchange(
            Exchange(pending.scope, user_turns[-1], user_text, turns[-1], call.backend_allowed)
        )

    def settle(self, call: Call) -> None:
        pending: Pending | None = call.request.state.get(STATE)
        if pending is None or pending.task is not None:
            return
        if call.stream and call.error is None and streamed_to_the_end(pending.chunks):
            # The client read `[DONE]` and closed before the engine's stream ended, which
            # cancelled the request before `before_complete`: the user saw the whole answer.
            task = self._start(call, pending)
            self._unawaited.add(task)
            task.add_done_callback(self._stored_late)
        else:  # failed before its answer ended
            self._done(pending)

    def _stored_late(self, task: asyncio.Task) -> None:
        self._unawaited.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "storing an agent exchange failed", extra={"fields": {"error": repr(task.exception())[:300]}}
            )
