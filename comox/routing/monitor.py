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
from comox.routing.backend import Backend
from comox.routing.probe import fetch, probe

log = logging.getLogger("comox.routing")
MODELS_EVERY = 15
"""Model listings are read once per this many scrape intervals (they change only on restart)."""


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
            profile = backend.kind.profile
            if self._config.scrape.enabled and profile is not None and profile.load_path is not None:
                self._tasks.append(loop.create_task(self._scrape(backend)))
            tracks_loaded = profile is not None and profile.models_path != b"/v1/models"
            if self._config.scrape.enabled and (backend.managed is not None or tracks_loaded):
                self._tasks.append(loop.create_task(self._models(backend)))

    async def _check(self, backend: Backend) -> None:
        cfg = self._config.health
        state = backend.state
        while True:
            if backend.managed is not None and not backend.managed.running:
                # a managed engine that is not loaded is not down: dispatch loads it on demand
                await asyncio.sleep(cfg.interval * random.uniform(0.9, 1.1))
                continue
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
        profile = backend.kind.profile
        while True:
            if backend.managed is not None and not backend.managed.running:
                await asyncio.sleep(cfg.interval * random.uniform(0.9, 1.1))
                continue
            result = await fetch(backend, profile.load_path, cfg.timeout)
            if result is not None and result[0] == 200:
                backend.state.engine = profile.parse_load(result[1].decode("utf-8", "replace"))
                backend.state.engine_at = loop.time()
            else:
                backend.state.stats.scrape_errors += 1
            await asyncio.sleep(cfg.interval * random.uniform(0.9, 1.1))

    async def _models(self, backend: Backend) -> None:
        """The engine's model listing: context windows where it reports them (vLLM, SGLang
        max_model_len) and, for engines that load models themselves (Ollama /api/ps), which
        are in memory now. Context windows change only on restart, so they are read at each
        start of a managed engine and then rarely; engines run elsewhere are not polled for
        them (their listing is the clients' business, and a poll would be traffic they see)."""
        cfg = self._config.scrape
        profile = backend.kind.profile
        tracks_loaded = profile.models_path != b"/v1/models"
        every = cfg.interval if tracks_loaded else cfg.interval * MODELS_EVERY
        loop = asyncio.get_running_loop()
        read_at, read_from = -1e9, None  # a restarted managed engine (new pid) is read at once
        while True:
            managed = backend.managed
            pid = managed.pid if managed is not None else None
            due = loop.time() - read_at >= every or pid != read_from
            if due and (managed is None or managed.running):
                result = await fetch(backend, profile.models_path, cfg.timeout)
                if result is not None and result[0] == 200:
                    models = profile.parse_models(result[1])
                    backend.state.context_windows = {
                        m.id: m.context_window for m in models if m.context_window is not None
                    }
                    if tracks_loaded:
                        backend.state.loaded = tuple(m.id for m in models)
                    read_at, read_from = loop.time(), pid
            await asyncio.sleep(cfg.interval * random.uniform(0.9, 1.1))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
