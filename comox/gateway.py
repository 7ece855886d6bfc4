"""The gateway assembled from its config: backends, routes, and the listening server."""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit, urlunsplit

from comox.api import admin, admin_audit, admin_backends, admin_policy, health
from comox.api.anthropic import routes as anthropic_routes
from comox.api.anthropic.service import AnthropicService
from comox.api.openai import routes as openai_routes
from comox.api.openai.service import OpenAIService
from comox.api.responses import routes as responses_routes
from comox.api.responses.service import ResponsesService
from comox.audit.log import AuditLog
from comox.cache.component import ResponseCache
from comox.managed.swapper import ModelSwapper
from comox.observability.assembly import Observability
from comox.observability.collect import collect
from comox.policy.tenancy import Tenancy
from comox.routing.backend import Backend
from comox.routing.monitor import FleetMonitor
from comox.routing.router import Router
from comox.server.connection import Connection, ConnectionLimits
from comox.server.request import Request
from comox.server.routes import Routes
from comox.server.watchdog import Watchdog
from comox.sovereignty.component import Sovereignty

log = logging.getLogger("comox")


class StartupError(Exception):
    """The gateway cannot start; the message says what could not be opened and why."""


def _shown(url: str | None) -> str:
    """The URL without its password (it may carry one; logs must not)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return " at " + urlunsplit(parts)


async def _opening(what: str, url: str | None, opened) -> None:
    try:
        await opened
    except Exception as exc:
        log.debug("start failed", exc_info=True)
        reason = str(exc) or type(exc).__name__
        raise StartupError(f"cannot open the {what}{_shown(url)}: {reason}") from None


class Gateway:
    """Owns every long-lived object of one worker process; `aclose()` releases them."""

    def __init__(self, config, worker: int = 0, trace_processor=None) -> None:
        loop = asyncio.get_running_loop()
        self.config = config
        self.watchdog = Watchdog(loop)
        self.backends: list[Backend] = []
        self.swappers: list[ModelSwapper] = []
        for b in config.backends:
            if b.managed is None:
                self.backends.append(Backend.from_config(b, config.upstream, self.watchdog, config.routing))
            else:  # one runtime backend per model, each its own engine process
                swapper = ModelSwapper.from_config(b, config.upstream, self.watchdog, config.routing)
                self.swappers.append(swapper)
                self.backends += swapper.backends
        self.router = Router(self.backends, config.routing)
        self.monitor = FleetMonitor(self.backends, config.routing)
        self.routes = Routes()
        health.add_routes(self.routes, health.Readiness(self.backends))
        self.tenancy = Tenancy.from_config(config)
        self.observability = Observability(
            config.observability, self.router.table.names, worker, trace_processor
        )
        self.sovereignty = Sovereignty(config, self.router)
        self.cache = ResponseCache(config, self.router, worker)
        self.agents = None
        agent_stages: tuple = ()
        if config.agents.enabled:  # assembled before sovereignty classifies and redacts the prompt
            from comox.agents.component import Agents

            self.agents = Agents(config, self.router)
            agent_stages = self.agents.stages
        stages = (
            *self.observability.stages,
            *self.tenancy.stages,
            *agent_stages,
            *self.sovereignty.stages,
            *self.cache.stages,  # keyed by tenant and data class (docs/decisions.md)
        )
        refusals: tuple = ()
        self.audit = AuditLog.from_config(config) if config.audit.enabled else None
        if self.audit is not None:  # first and last, around the policy stages (see comox.audit.stage)
            stages, refusals = (self.audit.head, *stages, self.audit.tail), (self.audit.refused,)
        service = OpenAIService(self.router, stages, self.tenancy.auth.authenticate, refusals)
        openai_routes.add_routes(self.routes, service)
        anthropic_routes.add_routes(self.routes, AnthropicService(service))
        responses_routes.add_routes(self.routes, ResponsesService(service))
        admin.add_routes(self.routes, self.tenancy)
        admin_backends.add_routes(self.routes, self.tenancy, self.backends, self.swappers)
        erasers = ()
        if self.agents is not None:
            self.agents.add_routes(self.routes, self.tenancy.auth.authenticate)
            erasers = (self.agents.erase_user,)
        if self.audit is not None:
            admin_audit.add_routes(self.routes, self.tenancy, self.audit, self.cache.erase, erasers)
        admin_policy.add_routes(self.routes, self.tenancy, self.sovereignty.report)
        exchanges = self.observability.exchanges
        self.observability.add_routes(
            self.routes, lambda: collect(self, exchanges, self.observability.started)
        )
        s = config.server
        self.limits = ConnectionLimits(
            max_body_bytes=s.max_body_bytes,
            max_header_bytes=s.max_header_bytes,
            header_timeout=s.header_timeout,
            body_timeout=s.body_timeout,
            keepalive_timeout=s.keepalive_timeout,
        )
        self.connections: set[Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def dispatch(self, request: Request):
        return self.routes.resolve(request)

    def protocol(self) -> Connection:
        return Connection(
            self.dispatch, self.limits, self.watchdog, self.connections, self.observability.exchanges
        )

    async def start(self, sock: socket.socket) -> None:
        """Open stores and start engines; a store that cannot be reached is a `StartupError`
        naming it, not a traceback."""
        loop = asyncio.get_running_loop()
        c = self.config
        await _opening("key and usage store", c.store, self.tenancy.start())
        if self.audit is not None:
            await _opening("audit store", c.audit.store, self.audit.start())
        await _opening("response cache", c.cache.redis, self.cache.start())
        if self.agents is not None:
            await _opening("agents store", c.agents.store, self.agents.start())
        for swapper in self.swappers:
            await swapper.start()
        self._server = await loop.create_server(self.protocol, sock=sock, backlog=self.config.server.backlog)
        self.monitor.start()
        self.observability.start()
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for backend in self.backends:
            backend.pool.sweep(now)
        self._sweeper = loop.call_later(5.0, self._schedule_sweep)

    async def drain(self, timeout: float) -> bool:
        """Stop accepting, let in-flight requests finish for up to `timeout` s; True if all did."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        left = list(self.connections)
        for conn in left:
            if conn.transport is not None:
                conn.transport.abort()
        return not left

    async def aclose(self) -> None:
        self.observability.aclose()
        self.sovereignty.close()
        await self.monitor.aclose()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for swapper in self.swappers:
            await swapper.aclose()
        for backend in self.backends:
            backend.pool.close()
        self.watchdog.close()
        if self.audit is not None:
            await self.audit.aclose()
        await self.cache.aclose()
        if self.agents is not None:
            await self.agents.aclose()
        await self.tenancy.aclose()
