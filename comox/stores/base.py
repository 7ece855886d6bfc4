"""What every store of tenants, keys and usage offers, and the rows they exchange.

The gateway reads the whole key table at start and again whenever `keys_version()` moves,
so the store is never on the request path; writes come from the admin API, the CLI, and
the usage flusher (batched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import orjson

from comox.policy.keys import KeyRecord, Limits, Tenant


class StoreError(Exception):
    """A store operation that cannot succeed as asked (the message says why)."""


class Conflict(StoreError):
    """The thing to create exists already."""


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Usage of one key on one model and backend on one UTC day; rows add up on upsert."""

    day: str
    """YYYY-MM-DD, UTC."""
    tenant: str
    key_id: str
    model: str
    backend: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @property
    def group(self) -> tuple[str, str, str, str, str]:
        return (self.day, self.tenant, self.key_id, self.model, self.backend)


USAGE_COLUMNS = (
    "day",
    "tenant",
    "key_id",
    "model",
    "backend",
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)


class Store(Protocol):
    async def open(self) -> None:
        """Connect and create the schema if missing."""

    async def aclose(self) -> None: ...

    async def keys_version(self) -> int:
        """A counter that moves on every change to tenants or keys."""

    async def create_tenant(self, tenant: Tenant) -> None:
        """Raises Conflict when the name is taken."""

    async def list_tenants(self) -> list[Tenant]: ...

    async def create_key(self, key: KeyRecord) -> None:
        """Raises StoreError when the tenant does not exist."""

    async def list_keys(self) -> list[KeyRecord]: ...

    async def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        """Marks the key revoked (first revocation time kept); None if no such key."""

    async def add_usage(self, rows: list[UsageRow]) -> None:
        """Adds each row's counts to the stored row of the same group, in one transaction."""

    async def usage(self, since: str, until: str, tenant: str | None = None) -> list[UsageRow]:
        """Rows with since <= day <= until, ordered by day, tenant, key, model, backend."""


# ---- mapping shared by the SQL stores -----------------------------------------------------------
TENANT_COLUMNS = "name, created_at, rpm, tpm, token_budget, budget_period, metadata"
KEY_COLUMNS = (
    "id, tenant, hash, name, created_at, expires_at, revoked_at, models, data_class, allow_cloud,"
    " max_tokens, rpm, tpm, token_budget, budget_period, metadata"
)


def tenant_values(t: Tenant) -> tuple:
    lim = t.limits
    return (
        t.name,
        t.created_at,
        lim.rpm,
        lim.tpm,
        lim.token_budget,
        lim.budget_period,
        orjson.dumps(t.metadata).decode(),
    )


def tenant_from_row(row) -> Tenant:
    return Tenant(
        name=row[0],
        created_at=row[1],
        limits=Limits(rpm=row[2], tpm=row[3], token_budget=row[4], budget_period=row[5]),
        metadata=orjson.loads(row[6]),
    )


def key_values(k: KeyRecord) -> tuple:
    lim = k.limits
    return (
        k.id,
        k.tenant,
        k.hash,
        k.name,
        k.created_at,
        k.expires_at,
        k.revoked_at,
        orjson.dumps(list(k.models)).decode(),
        k.data_class,
        bool(k.allow_cloud),
        k.max_tokens,
        lim.rpm,
        lim.tpm,
        lim.token_budget,
        lim.budget_period,
        orjson.dumps(k.metadata).decode(),
    )


def key_from_row(row) -> KeyRecord:
    return KeyRecord(
        id=row[0],
        tenant=row[1],
        hash=row[2],
        name=row[3],
        created_at=row[4],
        expires_at=row[5],
        revoked_at=row[6],
        models=tuple(orjson.loads(row[7])),
        data_class=row[8],
        allow_cloud=bool(row[9]),
        max_tokens=row[10],
        limits=Limits(rpm=row[11], tpm=row[12], token_budget=row[13], budget_period=row[14]),
        metadata=orjson.loads(row[15]),
    )


def usage_values(r: UsageRow) -> tuple:
    return (
        r.day,
        r.tenant,
        r.key_id,
        r.model,
        r.backend,
        r.requests,
        r.errors,
        r.prompt_tokens,
        r.completion_tokens,
        r.total_tokens,
    )


def open_store(url: str) -> Store:
    """The store named by a config URL: sqlite:///path or postgres://..."""
    if url.startswith("sqlite:"):
        from comox.stores.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    from comox.stores.postgres import PostgresStore

    return PostgresStore.from_url(url)
