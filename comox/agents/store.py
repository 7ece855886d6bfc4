"""Where agents live: the store interface and the choice of backend by URL.

A store runs query functions (`comox.agents.db`): `await store.call(fn, *args)` is
`fn(db, *args)`, in one transaction when `fn` is marked `@writes`. `sqlite:///path` is the
embedded default (one file, one thread); `postgres://...` lets several replicas share
agents and memory.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class AgentStore(Protocol):
    async def open(self) -> None:
        """Connect, and create the tables if missing (safe with several workers at once)."""

    async def aclose(self) -> None: ...

    async def call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T: ...


def store_from_url(url: str) -> AgentStore:
    """The store a (validated) `agents.store` URL names; nothing is opened yet."""
    if urlsplit(url).scheme in ("postgres", "postgresql"):
        from comox.agents.store_postgres import PostgresAgentStore

        return PostgresAgentStore.from_url(url)
    from comox.agents.store_sqlite import SqliteAgentStore

    return SqliteAgentStore.from_url(url)
