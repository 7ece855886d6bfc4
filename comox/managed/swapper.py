"""On-demand model swapping for one managed backend: load a model when it is first asked for,
unload it after `idle_unload`, and evict the least recently used idle model when the budget
(`max_loaded`, `memory_budget`) is full.

A request for a model that is not running waits (up to `load_timeout`) instead of failing.
Decisions are `comox.managed.decide`'s pure functions, taken under one lock so two loads
cannot both count the same free slot; the lock is held while victims stop, which also keeps
two engines from holding one GPU's memory at once, but not while waiting for a busy model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass

from comox.config.managed import ManagedConfig
from comox.managed.decide import Budget, Loaded, idle_victims, plan_load
from comox.managed.engine import ManagedEngine
from comox.server.errors import GatewayError

log = logging.getLogger("comox.managed")
ROOM_POLL = 0.05
"""Seconds between two looks for an idle model to evict while every loaded one is busy."""


@dataclass(slots=True)
class SwapStats:
    loads: int = 0
    """Engines started because a request (or preload) wanted their model."""
    evictions: int = 0
    """Engines stopped to make room for another model (least recently used first)."""
    idle_unloads: int = 0
    """Engines stopped after `idle_unload` seconds without requests."""
    load_timeouts: int = 0
    """Requests answered 503 model_loading_timeout."""


def free_port(host: str) -> int:
    """A port nobody listens on now; the engine binds it a moment later."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ModelSwapper:
    def __init__(self, name: str, config: ManagedConfig, engines: list[ManagedEngine]) -> None:
        self.name = name
        self.config = config
        self.engines = {e.model: e for e in engines}
        self.budget = Budget(config.max_loaded, config.memory_budget)
        self.stats = SwapStats()
        self._lock = asyncio.Lock()
        self._idle_task: asyncio.Task | None = None
        for engine in engines:
            engine.swapper = self

    @classmethod
    def from_config(cls, cfg, upstream, watchdog, routing) -> ModelSwapper:
        """One runtime backend (own port and pool) and one engine per model of `cfg`."""
        from comox.routing.backend import Backend

        engines = []
        for public, engine_model in cfg.models.items():
            port = free_port(cfg.host)
            backend = Backend.from_config(cfg, upstream, watchdog, routing, port, {public: engine_model})
            engine = ManagedEngine(backend, public, engine_model, port, cfg.managed)
            backend.managed = engine
            engines.append(engine)
        return cls(cfg.name, cfg.managed, engines)

    @property
    def backends(self) -> list:
        return [e.backend for e in self.engines.values()]

    def memory_of(self, model: str) -> float:
        return self.config.memory.get(model, self.config.default_memory)

    def _loaded(self, exclude: ManagedEngine | None = None) -> list[Loaded]:
        return [
            Loaded(e.model, e.last_used, e.busy, self.memory_of(e.model))
            for e in self.engines.values()
            if e.wanted and e is not exclude
        ]

    async def acquire(self, engine: ManagedEngine) -> None:
        """Wait until `engine` runs, loading it (and evicting others) if it is not wanted yet."""
        engine.pins += 1
        try:
            async with asyncio.timeout(self.config.load_timeout):
                if not engine.wanted:
                    await self._load(engine)
                await engine.wait_ready()
        except TimeoutError:
            self.stats.load_timeouts += 1
            raise GatewayError(
                503,
                f"Model '{engine.model}' is loading on backend '{self.name}' and was not ready "
                f"within {self.config.load_timeout:g} s. Retry shortly.",
                code="model_loading_timeout",
                headers=((b"retry-after", b"5"),),
            ) from None
        finally:
            engine.pins -= 1
        engine.last_used = asyncio.get_running_loop().time()

    async def _load(self, engine: ManagedEngine) -> None:
        """Start `engine` once the budget has room. The lock is held to decide and stop victims,
        never while waiting for a busy model to go idle: requests for a model another waiter
        started must not queue behind that wait (they pin the model it waits for)."""
        while not engine.wanted:
            async with self._lock:
                if engine.wanted:
                    return
                victims = plan_load(self.memory_of(engine.model), self._loaded(engine), self.budget)
                if victims is not None:
                    for victim in victims:
                        self.stats.evictions += 1
                        log.info(
                            "evicting model",
                            extra={"fields": {"backend": self.name, "model": victim, "for": engine.model}},
                        )
                        await self.engines[victim].stop()
                    self.stats.loads += 1
                    log.info("loading model", extra={"fields": {"backend": self.name, "model": engine.model}})
                    engine.start()
                    return
            await asyncio.sleep(ROOM_POLL)  # every loaded model is busy: wait for one to go idle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for engine in self.engines.values():
            engine.last_used = now
        if self.config.preload:
            async with self._lock:
                for engine in self.engines.values():
                    if plan_load(self.memory_of(engine.model), self._loaded(engine), self.budget) == []:
                        self.stats.loads += 1
                        engine.start()
        if self.config.idle_unload is not None:
            self._idle_task = loop.create_task(self._unload_idle(self.config.idle_unload))

    async def _unload_idle(self, idle: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(idle / 4, 5.0))
            async with self._lock:
                for model in idle_victims(self._loaded(), loop.time(), idle):
                    self.stats.idle_unloads += 1
                    log.info("unloading idle model", extra={"fields": {"backend": self.name, "model": model}})
                    await self.engines[model].stop()

    async def aclose(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
        await asyncio.gather(*(e.stop() for e in self.engines.values()), return_exceptions=True)

    def describe(self) -> dict:
        return {
            "max_loaded": self.config.max_loaded,
            "memory_budget": self.config.memory_budget,
            "loads": self.stats.loads,
            "evictions": self.stats.evictions,
            "idle_unloads": self.stats.idle_unloads,
            "load_timeouts": self.stats.load_timeouts,
        }
