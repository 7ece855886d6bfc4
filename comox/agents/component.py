"""Stateful agents of one worker, assembled from the config: store, embedder, memory,
background worker, the stage and the API routes.

Lifecycle: `Agents(config, router)` builds (no I/O); `start()` opens the store, loads the
embedding model (off the loop) and starts the job worker and the consolidation timer;
`aclose()` stops them and closes the store. With `agents.enabled: false` nothing is built
and nothing is in the request path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from comox.agents import api, sql_memory
from comox.agents.client import ModelClient
from comox.agents.consolidate import Consolidator
from comox.agents.embed import build_embedder
from comox.agents.jobs import JobQueue, MemoryWorker
from comox.agents.memory import AgentMemory
from comox.agents.records import Scope
from comox.agents.stage import AgentStage
from comox.agents.store import store_from_url
from comox.routing.router import Router
from comox.server.request import Request
from comox.server.routes import Routes

log = logging.getLogger("comox.agents")


class Agents:
    def __init__(self, config, router: Router, clock: Callable[[], float] = time.time) -> None:
        c = config.agents
        self.config = c
        self.clock = clock
        self.store = store_from_url(c.store)
        self.client = ModelClient(router, c.job_timeout)
        self.embedder = build_embedder(c.embedding, self.client)
        self.memory = AgentMemory(c, self.store, self.embedder)
        self.queue = JobQueue(c.job_queue)
        self.worker = MemoryWorker(c, self.memory, self.client, self.queue)
        self.consolidator = Consolidator(c, self.memory, self.client, clock)
        self.stage = AgentStage(self.memory, self.worker, self.queue, clock)
        self.stages = (self.stage,)
        self._timer: asyncio.Task | None = None

    def add_routes(self, routes: Routes, authenticate: Callable[[Request], Any]) -> None:
        api.add_routes(
            routes, self.memory, authenticate, self.clock, lambda: self.queue.pending + self.stage.storing
        )

    async def start(self) -> None:
        await self.store.open()
        await self.embedder.start()
        self.queue.start()
        if self.config.consolidation_interval:
            self._timer = asyncio.get_running_loop().create_task(self._consolidate_every())

    async def _consolidate_every(self) -> None:
        while True:
            await asyncio.sleep(self.config.consolidation_interval)
            self.queue.put(self.consolidator.run)

    async def erase_user(self, user: str, tenant: str | None = None) -> list[Scope]:
        """Everything of `user` with every agent (of `tenant`, or of all tenants): the audit
        log's subject erasure calls this too."""
        scopes = await self.store.call(sql_memory.erase_user, user, tenant)
        for scope in scopes:
            self.memory.index.drop(scope)
        return scopes

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.queue.aclose()
        self.embedder.close()
        await self.store.aclose()
