"""Liveness and readiness for orchestrators.

`/health` says the process answers; `/ready` says it can serve: at least one backend
answered its health check. Readiness is cached briefly so probes from many kubelets and
load balancers cannot turn into a flood of engine health calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from comox.routing.backend import Backend
from comox.routing.probe import probe
from comox.server.connection import Connection
from comox.server.request import Request
from comox.server.routes import Routes

HEALTHY = orjson.dumps({"status": "ok"})


class Readiness:
    def __init__(self, backends: Sequence[Backend], timeout: float = 2.0, cache_for: float = 1.0) -> None:
        self._backends = backends
        self._timeout = timeout
        self._cache_for = cache_for
        self._checked_at = -1e9
        self._result: tuple[int, bytes] = (503, b"")
        self._running: asyncio.Task | None = None

    async def check(self) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if loop.time() - self._checked_at < self._cache_for:
            return self._result
        if self._running is None:
            self._running = loop.create_task(self._probe_all())
        try:
            # shield: a prober that hangs up must not cancel the check others wait on
            return await asyncio.shield(self._running)
        finally:
            if self._running is not None and self._running.done():
                self._running = None

    async def _up(self, backend: Backend) -> bool:
        """A managed engine that is not wanted can still serve: a request loads it. One that is
        starting (or waiting to restart) cannot yet: requests would wait for it."""
        managed = backend.managed
        if managed is not None and not managed.running:
            return not managed.wanted
        return await probe(backend, self._timeout)

    async def _probe_all(self) -> tuple[int, bytes]:
        results = await asyncio.gather(*(self._up(b) for b in self._backends))
        states = {b.name: "up" if ok else "down" for b, ok in zip(self._backends, results, strict=True)}
        ready = any(results)
        body = orjson.dumps({"status": "ready" if ready else "unavailable", "backends": states})
        self._result = (200 if ready else 503, body)
        self._checked_at = asyncio.get_running_loop().time()
        return self._result


def add_routes(routes: Routes, readiness: Readiness) -> None:
    async def health(request: Request, reply: Connection) -> None:
        reply.send(200, HEALTHY)

    async def ready(request: Request, reply: Connection) -> None:
        status, body = await readiness.check()
        reply.send(status, body)

    routes.add(b"GET", b"/health", health)
    routes.add(b"GET", b"/ready", ready)
