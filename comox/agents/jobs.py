"""Background work after an exchange, off the request path: a bounded queue, one worker.

After each exchange: embed it as a past turn (retrievable even with no extraction model),
extract facts and relations (`extraction_model`), and fold turns that left the window into
the running summary (`summary_model`, once `summary_batch` of them are waiting). Jobs of
one user run in order, so a later fact always lands after an earlier one. A full queue
drops the new job and counts it: a slow model must never slow the user's requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from comox.agents import extract, sql_agents, sql_memory, summary
from comox.agents.client import Gate, ModelClient
from comox.agents.memory import AgentMemory
from comox.agents.records import Scope
from comox.agents.retrieve import TURN_IMPORTANCE
from comox.agents.window import Turn
from comox.config.agents import AgentsConfig

log = logging.getLogger("comox.agents")
Job = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class JobStats:
    queued: int = 0
    done: int = 0
    failed: int = 0
    dropped: int = 0
    extracted_facts: int = 0
    summaries: int = 0


class JobQueue:
    def __init__(self, size: int) -> None:
        self.stats = JobStats()
        self._queue: asyncio.Queue[Job] = asyncio.Queue(size)
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    @property
    def pending(self) -> int:
        """Jobs queued or running in this worker."""
        return self.stats.queued - self.stats.done - self.stats.failed

    def put(self, job: Job) -> bool:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return False
        self.stats.queued += 1
        return True

    async def idle(self) -> None:
        """Until every job queued so far is done (tests, shutdown)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job()
                self.stats.done += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.failed += 1
                log.warning("agent memory job failed", extra={"fields": {"error": repr(exc)[:300]}})
            finally:
                self._queue.task_done()

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()


@dataclass(frozen=True, slots=True)
class Exchange:
    scope: Scope
    user: Turn
    """The last user turn of the exchange (facts and the past-turn memory point to it)."""
    user_text: str
    answer: Turn
    gate: Gate


class MemoryWorker:
    """The jobs an exchange sets off; each is a method the queue runs later."""

    def __init__(
        self, config: AgentsConfig, memory: AgentMemory, client: ModelClient, queue: JobQueue
    ) -> None:
        self.config = config
        self.memory = memory
        self.client = client
        self.queue = queue

    def after_exchange(self, exchange: Exchange) -> None:
        self.queue.put(lambda: self.digest(exchange))

    async def digest(self, ex: Exchange) -> None:
        text = f"User: {ex.user_text}\nAssistant: {ex.answer.content}"
        items = await self.memory.embed_new(
            [("turn", text)], [TURN_IMPORTANCE], ex.user.created_at, ex.user.id
        )
        await self.memory.remember(ex.scope, items)
        if self.config.extraction_model:
            await self.extract(ex)
        if self.config.summary_model:
            await self.summarise(ex.scope, ex.gate, ex.answer.created_at)

    async def extract(self, ex: Exchange) -> None:
        current = await self.memory.store.call(sql_memory.current_edges, ex.scope)
        known = [e.describe() for e in current[-30:]]
        body = extract.request_body(
            self.config.extraction_model,
            ex.user_text,
            ex.answer.content,
            known,
            self.config.extraction_max_tokens,
        )
        facts = extract.parse(await self.client.chat(body, ex.gate))
        self.queue.stats.extracted_facts += await self.memory.learn(
            ex.scope, facts, ex.user.id, ex.user.created_at
        )

    async def summarise(self, scope: Scope, gate: Gate, now: float) -> None:
        store = self.memory.store
        text, upto = await store.call(sql_agents.get_summary, scope)
        window = await store.call(sql_agents.recent_turns, scope, self.config.window_turns)
        if not window:
            return
        waiting = await store.call(sql_agents.turns_between, scope, upto, window[0].id - 1)
        if len(waiting) < self.config.summary_batch:
            return
        body = summary.request_body(self.config.summary_model, text, waiting, self.config.summary_max_tokens)
        answer = summary.clean(await self.client.chat(body, gate), self.config.summary_max_tokens * 4)
        if answer:
            await store.call(sql_agents.put_summary, scope, answer, waiting[-1].id, now)
            self.queue.stats.summaries += 1
