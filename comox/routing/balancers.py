"""Load-balancing policies: each picks one backend from the candidates the router allows.

Every policy has the same single entry point, `select(candidates, call, now)`; the router
has already removed backends that are down, ejected, open, full or already tried, so a
policy only ranks. Policies are registered by name for the `strategy` option.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from comox.api.call import Call
from comox.config.routing import AffinityConfig
from comox.routing.affinity import HashRing, bounded_pick, conversation_key
from comox.routing.backend import Backend


class Balancer(Protocol):
    def select(self, candidates: Sequence[Backend], call: Call, now: float) -> Backend: ...


class RoundRobin:
    def __init__(self, backends: Sequence[Backend], affinity: AffinityConfig) -> None:
        self._turn = 0

    def select(self, candidates: Sequence[Backend], call: Call, now: float) -> Backend:
        self._turn += 1
        return candidates[self._turn % len(candidates)]


class Weighted:
    """Smooth weighted round robin (as nginx): in proportion to weight, evenly interleaved."""

    def __init__(self, backends: Sequence[Backend], affinity: AffinityConfig) -> None:
        self._current: dict[str, float] = {b.name: 0.0 for b in backends}

    def select(self, candidates: Sequence[Backend], call: Call, now: float) -> Backend:
        total = 0.0
        best = candidates[0]
        for backend in candidates:
            self._current[backend.name] += backend.weight
            total += backend.weight
            if self._current[backend.name] > self._current[best.name]:
                best = backend
        self._current[best.name] -= total
        return best


class LeastLoad:
    """Least work ahead, from our in-flight counts and the engine's own queue and cache."""

    def __init__(self, backends: Sequence[Backend], affinity: AffinityConfig) -> None:
        self._turn = 0

    def select(self, candidates: Sequence[Backend], call: Call, now: float) -> Backend:
        self._turn += 1
        n = len(candidates)
        start = self._turn % n
        best, best_load = candidates[start], float("inf")
        for i in range(start, start + n):  # from a rotating start, so ties are spread
            backend = candidates[i % n]
            load = backend.state.load(now, backend.weight)
            if load < best_load:
                best, best_load = backend, load
        return best


class Latency:
    """Lowest moving-average time to first byte; unmeasured backends are tried first."""

    def __init__(self, backends: Sequence[Backend], affinity: AffinityConfig) -> None:
        self._least = LeastLoad(backends, affinity)

    def select(self, candidates: Sequence[Backend], call: Call, now: float) -> Backend:
        fastest = min(b.state.ttft for b in candidates)
        return self._least.select([b for b in candidates if b.state.ttft == fastest], call, now)


class PrefixAffinity:
    def __init__(self, backends: Sequence[Backend], affinity: AffinityConfig) -> None:
        self._ring = HashRing(backends, affinity.virtual_nodes)
        self._config = affinity
        self._least = LeastLoad(backends, affinity)

    def select(self, candidates: Sequence[Backend], call: Call, now: float) -> Backend:
        key = conversation_key(call.request.headers, call.payload, self._config.prefix_chars)
        cfg = self._config
        chosen = bounded_pick(self._ring, key, candidates, cfg.load_factor, cfg.min_spill)
        return chosen or self._least.select(candidates, call, now)


BALANCERS: dict[str, type] = {
    "round_robin": RoundRobin,
    "weighted": Weighted,
    "least_load": LeastLoad,
    "latency": Latency,
    "prefix_affinity": PrefixAffinity,
}
