"""The fleet as an operator sees it: each backend's kind, health, load and loaded models.

Read by GET /admin/backends and `comox engines`; a pure function of the backends' state.
"""

from __future__ import annotations

from comox.routing.backend import Backend


def loaded_models(backend: Backend) -> list[str]:
    """What the engine has in memory: reported by the engine where it says (Ollama), the
    running managed model, or else every configured model of a healthy backend."""
    if backend.state.loaded is not None:
        return list(backend.state.loaded)
    if backend.managed is not None:
        return [backend.managed.model] if backend.managed.running else []
    return list(backend.models) if backend.state.health.healthy else []


def describe(backend: Backend, now: float) -> dict:
    state = backend.state
    load = state.engine_load(now)
    pool = backend.pool.config if backend.pool is not None else None
    return {
        "name": backend.name,
        "engine": backend.kind.name,
        "address": f"{pool.host}:{pool.port}" if pool is not None else None,
        "tier": "cloud" if backend.cloud else "local",
        "models": dict(backend.models),
        "healthy": state.health.healthy,
        "available": state.available(now),
        "inflight": state.inflight,
        "load": {"running": load.running, "waiting": load.waiting, "kv_cache": load.kv_cache},
        "loaded_models": loaded_models(backend),
        "context_windows": dict(state.context_windows),
        "managed": backend.managed.describe() if backend.managed is not None else None,
    }
