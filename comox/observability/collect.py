"""Read the gateway's stats objects into metric families, at scrape time only.

Components keep their own counters (`BackendStats`, `RouterStats`, `PoolStats`,
`LimiterStats`, ...); this module is the one place that knows metric names, and it only
reads. Names follow Prometheus conventions: `comox_` prefix, `_total` on counters,
base units (`_seconds`, `_ratio`), and labels with few values (never per request).
"""

from __future__ import annotations

import asyncio

from comox.observability.exchanges import RequestStats
from comox.observability.families import COUNTER, GAUGE, HISTOGRAM, Family
from comox.routing.breaker import CLOSED, HALF_OPEN, OPEN

BREAKER_STATES = (CLOSED, HALF_OPEN, OPEN)


def request_families(stats: RequestStats) -> list[Family]:
    requests = Family(
        "comox_requests_total",
        COUNTER,
        "Inference requests by API, public model, backend that answered, HTTP status and tenant.",
        ("api", "model", "backend", "code", "tenant"),
    )
    tokens = Family(
        "comox_tokens_total",
        COUNTER,
        "Tokens reported by the engines, by model, backend, tenant and type (input or output).",
        ("model", "backend", "tenant", "type"),
    )
    for (api, model, backend, code, tenant), s in stats.series.items():
        requests.add((api, model, backend, str(code), tenant), s.requests)
        if s.input_tokens or s.output_tokens:
            tokens.add((model, backend, tenant, "input"), s.input_tokens)
            tokens.add((model, backend, tenant, "output"), s.output_tokens)
    labels = ("model", "backend")
    duration = Family(
        "comox_request_duration_seconds",
        HISTOGRAM,
        "Seconds from the request's arrival to the end of its answer.",
        labels,
    )
    ttft = Family(
        "comox_time_to_first_token_seconds",
        HISTOGRAM,
        "Streams: seconds from the request's arrival to the engine's first answer bytes.",
        labels,
    )
    itl = Family(
        "comox_inter_token_latency_seconds",
        HISTOGRAM,
        "Streams: mean seconds between output tokens of one answer (after the first token).",
        labels,
    )
    for key, t in stats.timings.items():
        duration.add(key, t.duration)
        if t.ttft.count:
            ttft.add(key, t.ttft)
        if t.inter_token.count:
            itl.add(key, t.inter_token)
    http = Family(
        "comox_http_requests_total",
        COUNTER,
        "Requests to other routes (health, ready, models, admin, metrics, other; 'unread' for "
        "requests refused before they could be read), by route and HTTP status.",
        ("route", "code"),
    )
    for (route, code), n in stats.http.items():
        http.add((route, str(code)), n)
    aborted = Family(
        "comox_client_aborts_total", COUNTER, "Requests whose client left before the reply ended."
    )
    aborted.add((), stats.aborted)
    return [requests, tokens, duration, ttft, itl, http, aborted]


def connection_families(connections) -> list[Family]:
    inflight = Family("comox_inflight_requests", GAUGE, "Requests being handled now.")
    streams = Family("comox_inflight_streams", GAUGE, "Streamed answers being sent now.")
    open_ = Family("comox_client_connections", GAUGE, "Open client connections.")
    busy = [c for c in connections if c.handling]
    inflight.add((), len(busy))
    streams.add((), sum(1 for c in busy if c.streaming))
    open_.add((), len(connections))
    return [inflight, streams, open_]


def backend_families(backends, now: float) -> list[Family]:
    b = ("backend",)
    healthy = Family("comox_backend_healthy", GAUGE, "1 when the backend passes its health checks.", b, "min")
    available = Family(
        "comox_backend_available",
        GAUGE,
        "1 when the router may pick the backend (healthy, not ejected, breaker not open).",
        b,
        "min",
    )
    ejected = Family(
        "comox_backend_ejected", GAUGE, "1 while outlier detection ejects the backend.", b, "max"
    )
    breaker = Family(
        "comox_backend_breaker_state",
        GAUGE,
        "1 for the circuit breaker's current state (closed, half_open, open).",
        ("backend", "state"),
        "max",
    )
    inflight = Family("comox_backend_inflight_requests", GAUGE, "Requests in flight to the backend.", b)
    ttft = Family(
        "comox_backend_ttft_seconds",
        GAUGE,
        "Moving average of time to first byte from the backend.",
        b,
        "max",
    )
    counters = {
        "requests": ("comox_backend_attempts_total", "Attempts sent to the backend (retries included)."),
        "failures": ("comox_backend_failures_total", "Attempts that failed (connect errors, 5xx, timeouts)."),
        "retries": ("comox_backend_retries_total", "Attempts on the backend that were retries."),
        "ejections": ("comox_backend_ejections_total", "Times outlier detection ejected the backend."),
        "health_flips": ("comox_backend_health_changes_total", "Times the health state changed."),
        "cloud_uses": ("comox_backend_cloud_uses_total", "Attempts sent to the backend as a cloud backend."),
        "scrape_errors": ("comox_backend_scrape_errors_total", "Failed scrapes of the engine's metrics."),
    }
    stat_families = {k: Family(name, COUNTER, text, b) for k, (name, text) in counters.items()}
    pool = {
        "connects": Family("comox_upstream_connections_opened_total", COUNTER, "Connections opened.", b),
        "reuses": Family("comox_upstream_connection_reuses_total", COUNTER, "Pooled connections reused.", b),
        "connect_errors": Family("comox_upstream_connect_errors_total", COUNTER, "Failed connects.", b),
    }
    idle = Family("comox_upstream_idle_connections", GAUGE, "Idle pooled connections.", b)
    engine = {
        "running": Family(
            "comox_engine_running_requests", GAUGE, "Requests the engine reports running.", b, "max"
        ),
        "waiting": Family(
            "comox_engine_waiting_requests",
            GAUGE,
            "Requests queued in the engine (its own metric).",
            b,
            "max",
        ),
        "kv_cache": Family(
            "comox_engine_kv_cache_usage_ratio",
            GAUGE,
            "Share of the engine's KV cache in use, 0..1.",
            b,
            "max",
        ),
    }
    for backend in backends:
        name = (backend.name,)
        state = backend.state
        healthy.add(name, int(state.health.healthy))
        available.add(name, int(state.available(now)))
        ejected.add(name, int(now < state.outlier.ejected_until))
        for s in BREAKER_STATES:
            breaker.add((backend.name, s), int(state.breaker.state == s))
        inflight.add(name, state.inflight)
        ttft.add(name, state.ttft)
        for key, family in stat_families.items():
            family.add(name, getattr(state.stats, key))
        for key, family in pool.items():
            family.add(name, getattr(backend.pool.stats, key))
        idle.add(name, backend.pool.idle)
        if now - state.engine_at <= 10.0:  # only a fresh scrape (as the router uses it)
            load = state.engine
            for key, family in engine.items():
                family.add(name, getattr(load, key))
    return [
        healthy,
        available,
        ejected,
        breaker,
        inflight,
        ttft,
        *stat_families.values(),
        *pool.values(),
        idle,
        *engine.values(),
    ]


def router_families(stats) -> list[Family]:
    names = {
        "retries": ("comox_retries_total", "Attempts that retried a call on another (or the same) backend."),
        "fallbacks": ("comox_fallbacks_total", "Calls moved to a fallback model."),
        "cloud_failovers": ("comox_cloud_failovers_total", "Attempts sent to a cloud backend."),
        "no_capacity": ("comox_no_capacity_total", "Calls refused with 503: no backend could take them."),
    }
    families = []
    for key, (name, text) in names.items():
        family = Family(name, COUNTER, text)
        family.add((), getattr(stats, key))
        families.append(family)
    return families


def tenancy_families(tenancy) -> list[Family]:
    limits = Family(
        "comox_rate_limit_refusals_total",
        COUNTER,
        "Calls refused with 429 by a limit, by kind (requests, tokens, budget).",
        ("kind",),
    )
    s = tenancy.limits.stats
    for kind in ("requests", "tokens", "budget"):
        limits.add((kind,), getattr(s, f"refused_{kind}"))
    limiter_errors = Family(
        "comox_rate_limiter_errors_total", COUNTER, "Counter backend (Redis) errors; calls were let through."
    )
    limiter_errors.add((), s.backend_errors)
    policy = Family(
        "comox_policy_refusals_total",
        COUNTER,
        "Calls refused by key policy, by reason (model_not_allowed, max_tokens).",
        ("reason",),
    )
    a = tenancy.access.stats
    policy.add(("model_not_allowed",), a.model_refused)
    policy.add(("max_tokens",), a.max_tokens_refused)
    auth = Family(
        "comox_auth_refusals_total",
        COUNTER,
        "Requests refused with 401, by reason (missing, invalid, revoked, expired).",
        ("reason",),
    )
    for reason in ("missing", "invalid", "revoked", "expired"):
        auth.add((reason,), getattr(tenancy.auth.stats, reason))
    usage = Family(
        "comox_usage_flush_errors_total", COUNTER, "Failed writes of usage rows to the store (retried)."
    )
    usage.add((), tenancy.usage.stats.flush_errors)
    dropped = Family(
        "comox_usage_dropped_calls_total", COUNTER, "Calls whose usage was dropped (store down too long)."
    )
    dropped.add((), tenancy.usage.stats.dropped_calls)
    return [limits, limiter_errors, policy, auth, usage, dropped]


def cache_families(cache) -> list[Family]:
    """Response cache (comox.cache): hits by kind, misses, fills, evictions, similarity."""
    if not cache.config.enabled:
        return []
    s, store = cache.stats, cache.store.stats
    lookups = Family(
        "comox_cache_lookups_total",
        COUNTER,
        "Cache lookups by result: hit_exact, hit_semantic, miss, skipped (x-comox-cache: skip, an "
        "excluded data class, or a request that is not deterministic).",
        ("result",),
    )
    for result, n in (
        ("hit_exact", s.hits_exact),
        ("hit_semantic", s.hits_semantic),
        ("miss", s.misses),
        ("skipped", s.skipped),
    ):
        lookups.add((result,), n)
    stores = Family("comox_cache_stores_total", COUNTER, "Answers stored in the cache.")
    stores.add((), store.stores)
    removed = Family(
        "comox_cache_removals_total",
        COUNTER,
        "Cached answers removed, by reason (evicted: least recently used; expired; erased).",
        ("reason",),
    )
    removed.add(("evicted",), store.evictions)
    removed.add(("expired",), store.expirations)
    removed.add(("erased",), store.erased)
    entries = Family("comox_cache_entries", GAUGE, "Answers held in the cache.")
    entries.add((), len(cache.store))
    families = [lookups, stores, removed, entries]
    if cache.shared is not None:
        shared = Family(
            "comox_cache_shared_errors_total",
            COUNTER,
            "Calls to the shared cache's Redis that failed (the lookup missed or the answer was not stored).",
        )
        shared.add((), cache.shared.errors)
        families.append(shared)
    if cache.index is not None:
        similarity = Family(
            "comox_cache_semantic_similarity", HISTOGRAM, "Cosine similarity of semantic cache hits."
        )
        similarity.add((), s.similarity)
        errors = Family(
            "comox_cache_embedding_errors_total", COUNTER, "Embeddings that failed (the call missed)."
        )
        errors.add((), s.embed_errors)
        vectors = Family("comox_cache_vectors", GAUGE, "Questions held in the semantic index.")
        vectors.add((), len(cache.index))
        families += [similarity, errors, vectors]
    return families


def managed_families(swappers) -> list[Family]:
    """Managed engines (comox.managed): swaps, restarts and what runs now."""
    if not swappers:
        return []
    b = ("backend",)
    counters = {
        "loads": ("comox_model_loads_total", "Managed model engines started on demand (or preloaded)."),
        "evictions": ("comox_model_evictions_total", "Models stopped to make room (least recently used)."),
        "idle_unloads": ("comox_model_idle_unloads_total", "Models stopped after their idle time."),
        "load_timeouts": (
            "comox_model_load_timeouts_total",
            "Requests refused: their model did not load in time.",
        ),
    }
    families = {k: Family(name, COUNTER, text, b) for k, (name, text) in counters.items()}
    restarts = Family("comox_engine_restarts_total", COUNTER, "Managed engines restarted after a crash.", b)
    loaded = Family("comox_models_loaded", GAUGE, "Managed models whose engine is running now.", b)
    for swapper in swappers:
        name = (swapper.name,)
        for key, family in families.items():
            family.add(name, getattr(swapper.stats, key))
        restarts.add(name, sum(e.stats.restarts for e in swapper.engines.values()))
        loaded.add(name, sum(1 for e in swapper.engines.values() if e.running))
    return [*families.values(), restarts, loaded]


def process_families(started: float) -> list[Family]:
    start = Family(
        "comox_process_start_time_seconds", GAUGE, "Unix time the oldest worker started.", merge="min"
    )
    start.add((), started)
    workers = Family("comox_workers", GAUGE, "Worker processes whose metrics this scrape includes.")
    workers.add((), 1)
    return [start, workers]


def agents_families(agents) -> list[Family]:
    """Stateful agents (comox.agents): calls assembled, exchanges stored, background jobs."""
    if agents is None:
        return []
    stage, jobs = agents.stage.stats, agents.queue.stats
    calls = Family("comox_agent_calls_total", COUNTER, "Chat calls whose prompt was assembled for an agent.")
    calls.add((), stage.calls)
    stored = Family("comox_agent_exchanges_stored_total", COUNTER, "Agent exchanges stored in memory.")
    stored.add((), stage.stored)
    assembly = Family(
        "comox_agent_assembly_seconds_total",
        COUNTER,
        "Time spent assembling agent prompts (memory retrieval).",
    )
    assembly.add((), stage.assembly_seconds)
    job_family = Family(
        "comox_agent_jobs_total",
        COUNTER,
        "Background memory jobs by outcome (dropped: the bounded queue was full).",
        ("outcome",),
    )
    for outcome, n in (
        ("queued", jobs.queued),
        ("done", jobs.done),
        ("failed", jobs.failed),
        ("dropped", jobs.dropped),
    ):
        job_family.add((outcome,), n)
    learned = Family(
        "comox_agent_memories_total",
        COUNTER,
        "What background jobs produced: extracted facts and summaries.",
        ("kind",),
    )
    learned.add(("fact",), jobs.extracted_facts)
    learned.add(("summary",), jobs.summaries)
    return [calls, stored, assembly, job_family, learned]


def audit_families(audit) -> list[Family]:
    """The audit log (comox.audit): records by outcome, and the health of the writer process."""
    if audit is None:
        return []
    log, writer = audit.stats, audit.writer.stats
    records = Family(
        "comox_audit_records_total",
        COUNTER,
        "Audit records by outcome: committed by the writer; failed (the answer was withheld "
        "with a 503); lost (handoff durability: answered, then the writer failed or died "
        "before committing).",
        ("outcome",),
    )
    records.add(("committed",), writer.records)
    records.add(("failed",), log.failures)
    records.add(("lost",), writer.records_lost)
    deaths = Family(
        "comox_audit_writer_deaths_total", COUNTER, "Audit writer processes that ended unexpectedly."
    )
    deaths.add((), writer.writer_deaths)
    return [records, deaths]


def collect(gateway, exchanges, started: float) -> list[Family]:
    now = asyncio.get_running_loop().time()
    return [
        *request_families(exchanges.stats),
        *connection_families(gateway.connections),
        *backend_families(gateway.backends, now),
        *router_families(gateway.router.stats),
        *tenancy_families(gateway.tenancy),
        *cache_families(gateway.cache),
        *agents_families(gateway.agents),
        *audit_families(gateway.audit),
        *managed_families(gateway.swappers),
        *process_families(started),
    ]
