"""Everything the router knows about one backend right now, and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from comox.config.routing import RoutingConfig
from comox.engines.metrics import EngineLoad
from comox.routing.breaker import CLOSED, Breaker
from comox.routing.health import HealthState
from comox.routing.outlier import OutlierDetector

NO_LOAD = EngineLoad()
EWMA_WEIGHT = 0.2
"""Weight of the newest time-to-first-token sample in the moving average."""
ENGINE_LOAD_TTL = 10.0
"""Scraped engine metrics older than this many seconds are ignored (the scraper stopped)."""


@dataclass(slots=True)
class BackendStats:
    requests: int = 0
    failures: int = 0
    retries: int = 0
    ejections: int = 0
    health_flips: int = 0
    cloud_uses: int = 0
    scrape_errors: int = 0


@dataclass(slots=True, eq=False)
class BackendState:
    health: HealthState
    outlier: OutlierDetector
    breaker: Breaker
    inflight: int = 0
    ttft: float = 0.0
    """Moving average of seconds to the first answer byte; 0 until measured."""
    engine: EngineLoad = NO_LOAD
    engine_at: float = -1e9
    busy_until: float = 0.0
    """Set from a 429's Retry-After: the engine asked for no traffic until then."""
    loaded: tuple[str, ...] | None = None
    """Models the engine reports in memory (Ollama /api/ps); None where it does not say."""
    context_windows: dict[str, int] = field(default_factory=dict)
    """Engine model name -> context tokens, where the engine's model listing says."""
    stats: BackendStats = field(default_factory=BackendStats)

    @classmethod
    def from_config(cls, config: RoutingConfig) -> BackendState:
        return cls(
            health=HealthState(config.health.unhealthy_threshold, config.health.healthy_threshold),
            outlier=OutlierDetector(config.outlier),
            breaker=Breaker(config.breaker),
        )

    def available(self, now: float) -> bool:
        """Healthy, not ejected, breaker not open, and not asked to back off."""
        breaker = self.breaker
        return (
            self.health.healthy
            and now >= self.outlier.ejected_until
            and (breaker.state is CLOSED or breaker.can_try(now))
            and now >= self.busy_until
        )

    def engine_load(self, now: float) -> EngineLoad:
        return self.engine if now - self.engine_at <= ENGINE_LOAD_TTL else NO_LOAD

    def full(self, now: float, max_concurrency: int | None, max_queue: int | None) -> bool:
        """At the capacity the operator set: concurrency from here, or the engine's own queue."""
        if max_concurrency is not None and self.inflight >= max_concurrency:
            return True
        return max_queue is not None and self.engine_load(now).waiting > max_queue

    def load(self, now: float, weight: float) -> float:
        """Work ahead of a new request, per unit of weight.

        The engine's running count includes our own in-flight requests, so the larger of the
        two is taken rather than the sum; queued requests count double since each waits
        for a slot; a nearly full KV cache is a tie-breaker.
        """
        engine = self.engine if now - self.engine_at <= ENGINE_LOAD_TTL else NO_LOAD
        running = engine.running if engine.running > self.inflight else self.inflight
        return (running + 2.0 * engine.waiting + engine.kv_cache) / weight

    def note_ttft(self, seconds: float) -> None:
        self.ttft = seconds if self.ttft == 0.0 else self.ttft + EWMA_WEIGHT * (seconds - self.ttft)
