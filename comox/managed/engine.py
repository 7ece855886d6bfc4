"""One managed model: its engine process kept running while wanted, restarted with capped
exponential backoff when it crashes or never becomes ready.

The engine is ready when its kind's health path answers 2xx (`comox.routing.probe`), the
same check the fleet monitor makes. The swapper decides when a model is wanted; dispatch
asks `admit()` before sending it a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from comox.config.managed import ManagedConfig
from comox.managed.process import EngineProcess
from comox.routing.probe import probe

if TYPE_CHECKING:
    from comox.managed.swapper import ModelSwapper
    from comox.routing.backend import Backend

log = logging.getLogger("comox.managed")
READY_POLL = 0.1
"""Seconds between two readiness probes of a starting engine."""


def render_command(command: tuple[str, ...], model: str, port: int) -> list[str]:
    """The argv with placeholders filled (plain replacement: JSON arguments keep their braces)."""
    values = {"{model}": model, "{port}": str(port), "{python}": sys.executable}
    out = []
    for part in command:
        for key, value in values.items():
            part = part.replace(key, value)
        out.append(part)
    return out


def backoff(failures: int, base: float, cap: float) -> float:
    """Delay before the next start after `failures` failed runs in a row (1, 2, 4... x base)."""
    return min(cap, base * 2 ** max(0, failures - 1))


@dataclass(slots=True)
class EngineStats:
    starts: int = 0
    restarts: int = 0
    """Starts after a crash or a failed readiness wait (not loads the swapper asked for)."""


class ManagedEngine:
    def __init__(
        self, backend: Backend, model: str, engine_model: str, port: int, config: ManagedConfig
    ) -> None:
        self.backend = backend
        self.model = model
        self.engine_model = engine_model
        self.port = port
        self.config = config
        self.argv = render_command(config.command, engine_model, port)
        self.log: deque[str] = deque(maxlen=config.log_lines or None)
        self.stats = EngineStats()
        self.state = "stopped"
        """stopped, starting, running or backoff (waiting to restart after a crash)."""
        self.wanted = False
        self.pins = 0
        """Requests waiting for this model to load: it must not be evicted under them."""
        self.last_used = 0.0
        self.swapper: ModelSwapper | None = None
        self.process: EngineProcess | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def busy(self) -> bool:
        return self.pins > 0 or self.backend.state.inflight > 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.alive else None

    def admit(self, now: float) -> Awaitable[None] | None:
        """None when the engine can take a request now; else an awaitable that loads it (or
        waits out a restart), raising 503 model_loading_timeout after `load_timeout`."""
        self.last_used = now
        if self.state == "running":
            return None
        assert self.swapper is not None
        return self.swapper.acquire(self)

    def start(self) -> None:
        self.wanted = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def stop(self) -> None:
        self.wanted = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        fields = {"backend": self.backend.name, "model": self.model, "port": self.port}
        try:
            while True:
                self.state = "starting"
                started = loop.time()
                try:
                    self.process = EngineProcess(self.argv, dict(self.config.env), self.log, self._log_file())
                except OSError as exc:  # no such program, not executable, log_dir not writable
                    self.process = None
                    self.log.append(f"comox: could not start {self.argv[0]!r}: {exc}")
                    reason = f"could not start: {exc}"
                else:
                    self.stats.starts += 1
                    log.info("engine starting", extra={"fields": {**fields, "pid": self.process.pid}})
                    reason = await self._run_once(self.process, started, fields)
                ran = loop.time() - started
                failures = 1 if ran >= self.config.restart_backoff_max else failures + 1
                delay = backoff(failures, self.config.restart_backoff, self.config.restart_backoff_max)
                self.state = "backoff"
                self.stats.restarts += 1
                log.warning(
                    "engine %s; restarting",
                    reason,
                    extra={
                        "fields": {
                            **fields,
                            "in_s": delay,
                            "restarts": self.stats.restarts,
                            "tail": self.tail(5),
                        }
                    },
                )
                await asyncio.sleep(delay)
        finally:
            self._ready.clear()
            self.state = "stopped"
            if self.process is not None:
                await self.process.stop(self.config.stop_timeout)
                log.info("engine stopped", extra={"fields": fields})

    async def _run_once(self, process: EngineProcess, started: float, fields: dict) -> str:
        """Wait for the engine to be ready and then to exit; why it is no longer serving."""
        loop = asyncio.get_running_loop()
        if await self._wait_ready(process):
            self._became_ready()
            log.info("engine ready", extra={"fields": {**fields, "seconds": round(loop.time() - started, 3)}})
            code = await asyncio.shield(process.exited)
            process.signal_group(signal.SIGKILL)  # helpers it forked must not outlive it
            self._ready.clear()
            self._forgive()  # requests for it now wait for the restart, not fail
            return f"exited with status {code}"
        await process.stop(self.config.stop_timeout)
        return "did not become ready"

    async def _wait_ready(self, process: EngineProcess) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.ready_timeout
        while loop.time() < deadline and process.alive:
            if await probe(self.backend, min(2.0, self.config.ready_timeout)):
                return True
            await asyncio.sleep(READY_POLL)
        return False

    def _became_ready(self) -> None:
        self._forgive()
        self.state = "running"
        self._ready.set()

    def _forgive(self) -> None:
        """The router must keep picking a managed engine that is down or restarting, so that
        dispatch waits for it (bounded) instead of refusing: forget probe failures and ejections."""
        state = self.backend.state
        state.health.healthy, state.health.streak = True, 0
        if state.outlier.ejected_until:
            state.outlier.uneject()

    def _log_file(self) -> Path | None:
        if self.config.log_dir is None:
            return None
        directory = Path(self.config.log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.model)
        return directory / f"{self.backend.name}-{safe}.log"

    def tail(self, lines: int) -> list[str]:
        return list(self.log)[-lines:]

    def describe(self) -> dict:
        return {
            "model": self.model,
            "state": self.state,
            "pid": self.pid,
            "port": self.port,
            "restarts": self.stats.restarts,
            "last_log": self.tail(5),
        }
