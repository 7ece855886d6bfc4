"""How requests are spread over backends and what happens when one fails.

Each resilience concern (health checks, outlier ejection, the breaker, engine-metrics
scraping, affinity) has its own block, so each component is built from exactly its own
config, with defaults that suit a small fleet of GPU engines.
"""

from typing import Literal

from pydantic import Field

from comox.config.section import _Section

Strategy = Literal["least_load", "round_robin", "weighted", "latency", "prefix_affinity"]


class HealthCheckConfig(_Section):
    """Active probes of each engine's health endpoint (vLLM /health, Ollama /api/tags, ...)."""

    enabled: bool = True
    interval: float = Field(5.0, gt=0.0)
    """Seconds between two probes of one backend."""
    timeout: float = Field(2.0, gt=0.0)
    """A probe that has not answered 2xx within this many seconds fails."""
    unhealthy_threshold: int = Field(2, ge=1)
    """Consecutive failed probes that take a backend out."""
    healthy_threshold: int = Field(2, ge=1)
    """Consecutive good probes that put it back."""


class OutlierConfig(_Section):
    """Passive detection on real traffic: eject a backend that keeps failing, for a growing time."""

    consecutive_failures: int = Field(3, ge=1)
    """Connect errors, 5xx answers and timeouts in a row that eject a backend."""
    base_ejection: float = Field(2.0, gt=0.0)
    """First ejection lasts this many seconds; each further one lasts one more multiple."""
    max_ejection: float = Field(60.0, gt=0.0)
    """No ejection lasts longer than this."""
    uneject_on_healthy_probe: bool = True
    """A passing active probe ends an ejection early, so a restarted engine is back at once."""


class BreakerConfig(_Section):
    """Per-backend circuit breaker on the failure ratio of recent requests."""

    window: int = Field(20, ge=2)
    """How many recent outcomes the ratio is taken over."""
    min_requests: int = Field(10, ge=1)
    """The breaker does not open on fewer outcomes than this."""
    failure_ratio: float = Field(0.5, gt=0.0, le=1.0)
    """Open when this share of the window failed."""
    open_for: float = Field(10.0, gt=0.0)
    """Seconds the breaker stays open before letting trial requests through."""
    half_open_trials: int = Field(2, ge=1)
    """Trial requests allowed at once while half-open; all must succeed to close it."""


class ScrapeConfig(_Section):
    """Background reads of each engine's own /metrics (queue length, running requests, KV cache)."""

    enabled: bool = True
    interval: float = Field(2.0, gt=0.0)
    timeout: float = Field(1.0, gt=0.0)


class AffinityConfig(_Section):
    """Prefix and session affinity: same conversation, same backend, so its KV cache is reused."""

    prefix_chars: int = Field(2048, ge=16)
    """How much of the start of the prompt (system prompt and first user turn) names a conversation."""
    load_factor: float = Field(1.25, ge=1.0)
    """Bounded load: a backend above this multiple of the mean in-flight load passes its keys on."""
    min_spill: int = Field(8, ge=1)
    """A backend keeps its keys until it has at least this many requests in flight: engines batch,
    so small imbalances cost less than lost cache reuse."""
    virtual_nodes: int = Field(100, ge=1)
    """Points per backend on the hash ring; more points spread keys more evenly."""


class ModelRouting(_Section):
    """Routing options of one public model."""

    strategy: Strategy | None = None
    """Overrides routing.strategy for this model."""
    fallbacks: tuple[str, ...] = ()
    """Models tried in order when no backend of this one can serve (down, saturated, or the prompt
    exceeds its context window)."""


class RoutingConfig(_Section):
    strategy: Strategy = "least_load"
    """Default balancing strategy for every model."""
    retries: int = Field(2, ge=0)
    """Further attempts on other backends before the first byte reaches the client."""
    retry_deadline: float = Field(30.0, gt=0.0)
    """No new attempt starts once this many seconds have passed since the request arrived."""
    max_retry_after: float = Field(5.0, ge=0.0)
    """A 429 whose Retry-After is at most this long is waited out when no other backend can take
    the request; longer ones are passed to the client."""
    health: HealthCheckConfig = HealthCheckConfig()
    outlier: OutlierConfig = OutlierConfig()
    breaker: BreakerConfig = BreakerConfig()
    scrape: ScrapeConfig = ScrapeConfig()
    affinity: AffinityConfig = AffinityConfig()
    models: dict[str, ModelRouting] = {}
    """Per public model: strategy and fallbacks."""
