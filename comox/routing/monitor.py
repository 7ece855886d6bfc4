"""Background watchers of the fleet: active health probes and engine-metrics scrapes.

One task per backend and concern, each on its own interval with a little jitter so a
fleet of workers does not probe in lockstep. They only write into the backend's state;
the router reads it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from comox.config.routing import RoutingConfig
from comox.engines.metrics import METRICS_PATH, has_metrics, parse_load
from comox.routing.backend import Backend
from comox.routing.probe import fetch, probe

log = logging.getLogger("comox.routing")


class FleetMonitor:
    def __init__(self, backends: Sequence[Backend], config: RoutingConfig) -> None:
        self._backends = backends
        self._config = config
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for backend in self._backends:
            if self._config.health.enabled:
                self._tasks.append(loop.create_task(self._check(backend)))
            if self._config.scrape.enabled and has_metrics(backend.kind.name):
                self._tasks.append(loop.create_task(self._scrape(backend)))

    async def _check(self, backend: Backend) -> None:
        cfg = self._config.health
        state = backend.state
        while True:
            ok = await probe(backend, cfg.timeout)
            if state.health.record(ok):
                state.stats.health_flips += 1
                log.warning(
                    "backend %s",
                    "healthy" if ok else "unhealthy",
                    extra={"fields": {"backend": backend.name}},
                )
            if ok and self._config.outlier.uneject_on_healthy_probe and state.outlier.ejected_until:
                state.outlier.uneject()
            await asyncio.sleep(cfg.interval * random.uniform(0.9, 1.1))

    async def _scrape(self, backend: Backend) -> None:
        cfg = self._config.scrape
        loop = asyncio.get_running_loop()
        while True:
            result = await fetch(backend, METRICS_PATH, cfg.timeout)
            if result is not None and result[0] == 200:
                backend.state.engine = parse_load(backend.kind.name, result[1].decode("utf-8", "replace"))
                backend.state.engine_at = loop.time()
            else:
                backend.state.stats.scrape_errors += 1
            await asyncio.sleep(cfg.interval * random.uniform(0.9, 1.1))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
