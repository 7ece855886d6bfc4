"""Which backend takes a call: the pure decision, with no I/O.

Order of preference: the model's local backends that are available (healthy, not ejected,
breaker closed, not told to back off) and not full; then, only if none of those can take
it and the call may leave the premises, its cloud backends. Within a tier the model's
balancing strategy picks. Backends already tried for this call are skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from comox.api.call import Call
from comox.config.routing import RoutingConfig
from comox.routing.backend import Backend
from comox.routing.balancers import BALANCERS, Balancer
from comox.routing.models import ModelTable, Target


@dataclass(slots=True)
class RouterStats:
    fallbacks: int = 0
    cloud_failovers: int = 0
    retries: int = 0
    no_capacity: int = 0


class Router:
    def __init__(self, backends: Sequence[Backend], config: RoutingConfig) -> None:
        self.config = config
        self.table = ModelTable(backends)
        self.stats = RouterStats()
        self._balancers: dict[str, Balancer] = {}
        self._chains: dict[str, tuple[str, ...]] = {}
        self._target_of: dict[str, dict[Backend, Target]] = {
            model: {t.backend: t for t in self.table.targets(model)} for model in self.table.names
        }
        for model in self.table.names:
            options = config.models.get(model)
            strategy = (options.strategy if options else None) or config.strategy
            served_by = [t.backend for t in self.table.targets(model)]
            self._balancers[model] = BALANCERS[strategy](served_by, config.affinity)
            self._chains[model] = (model, *(options.fallbacks if options else ()))

    def chain(self, model: str) -> tuple[str, ...]:
        """The model, then its fallbacks in order (404 when the model is unknown)."""
        chain = self._chains.get(model)
        if chain is None:
            self.table.targets(model)  # raises the 404 that lists the models
        return chain

    def choose(self, model: str, call: Call, tried: Collection[Backend], now: float) -> Target | None:
        targets = self.table.targets(model)
        if len(targets) == 1:  # the common small fleet: no lists, no balancer
            target = targets[0]
            backend = target.backend
            state = backend.state
            if (
                backend in tried
                or (call.backend_allowed is not None and not call.backend_allowed(backend))
                or not state.available(now)
                or state.full(now, backend.max_concurrency, backend.max_queue)
                or (backend.cloud and not call.allow_cloud)
            ):
                return None
            return target
        local: list[Backend] = []
        cloud: list[Backend] = []
        allowed = call.backend_allowed
        for target in targets:  # runs for every call: the cheap tests first, no calls when unset
            backend = target.backend
            state = backend.state
            if backend in tried or not state.available(now):
                continue
            if allowed is not None and not allowed(backend):
                continue
            if (backend.max_concurrency is not None or backend.max_queue is not None) and state.full(
                now, backend.max_concurrency, backend.max_queue
            ):
                continue
            (cloud if backend.cloud else local).append(backend)
        pool = local or (cloud if call.allow_cloud else None)
        if not pool:
            return None
        chosen = pool[0] if len(pool) == 1 else self._balancers[model].select(pool, call, now)
        return self._target_of[model][chosen]
