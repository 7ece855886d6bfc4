"""Erase a user's agent memory from outside a running gateway (`comox audit erase`)."""

from __future__ import annotations

from comox.agents import sql_memory
from comox.agents.records import Scope
from comox.agents.store import store_from_url
from comox.config.agents import AgentsConfig


async def erase_user(config: AgentsConfig, user: str, tenant: str | None = None) -> list[Scope]:
    """Turns, summaries, memories and edges of `user` with every agent. Running gateways
    reload their in-process index on next use (the erasure bumps each scope's version)."""
    store = store_from_url(config.store)
    await store.open()
    try:
        return await store.call(sql_memory.erase_user, user, tenant)
    finally:
        await store.aclose()
