"""Tenant and key administration over a store, shared by the admin API and the CLI."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import replace

from comox.policy.keys import KeyRecord, Limits, Tenant, generate_key, hash_key, new_key_id
from comox.stores.base import USAGE_COLUMNS, Conflict, Store, StoreError, UsageRow, usage_values


class NotFound(StoreError):
    """No tenant or key of that name."""


class Registry:
    def __init__(self, store: Store, defaults=None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.defaults = defaults
        """`KeyDefaults` from the config: policy of keys created without saying otherwise."""
        self.clock = clock

    async def create_tenant(
        self, name: str, limits: Limits | None = None, metadata: dict | None = None
    ) -> Tenant:
        tenant = Tenant(name, self.clock(), limits or Limits(), metadata or {})
        await self.store.create_tenant(tenant)
        return tenant

    async def ensure_tenant(self, name: str) -> tuple[Tenant, bool]:
        """The tenant, created with no limits if new; the flag says whether it was created."""
        for tenant in await self.store.list_tenants():
            if tenant.name == name:
                return tenant, False
        try:
            return await self.create_tenant(name), True
        except Conflict:  # created meanwhile by someone else
            return next(t for t in await self.store.list_tenants() if t.name == name), False

    async def tenant(self, name: str) -> Tenant:
        for tenant in await self.store.list_tenants():
            if tenant.name == name:
                return tenant
        raise NotFound(f"Unknown tenant '{name}'.")

    async def create_key(self, tenant: str, **policy) -> tuple[str, KeyRecord]:
        """A new key for an existing tenant: (secret, record). The secret exists only here.

        `policy` holds KeyRecord fields (name, models, data_class, allow_cloud, max_tokens,
        metadata, expires_at) and limit fields (rpm, tpm, token_budget, budget_period);
        those left out come from the config's key defaults.
        """
        await self.tenant(tenant)
        d = self.defaults
        limit_fields = {"rpm", "tpm", "token_budget", "budget_period"}
        base = {} if d is None else d.model_dump()
        given = {k: v for k, v in policy.items() if v is not None}
        limits = Limits(**{k: given.get(k, base.get(k)) for k in limit_fields if k in given or k in base})
        fields = {k: v for k, v in base.items() if k not in limit_fields}
        fields.update({k: v for k, v in given.items() if k not in limit_fields})
        if "models" in fields:
            fields["models"] = tuple(fields["models"])
        secret = generate_key()
        record = KeyRecord(
            id=new_key_id(), tenant=tenant, hash=hash_key(secret), created_at=self.clock(), limits=limits
        )
        record = replace(record, **fields)
        await self.store.create_key(record)
        return secret, record

    async def list_keys(self, tenant: str | None = None) -> list[KeyRecord]:
        keys = await self.store.list_keys()
        return [k for k in keys if tenant is None or k.tenant == tenant]

    async def revoke_key(self, key_id: str) -> KeyRecord:
        record = await self.store.revoke_key(key_id, self.clock())
        if record is None:
            raise NotFound(f"Unknown key '{key_id}'.")
        return record

    async def usage(self, since: str, until: str, tenant: str | None = None) -> list[UsageRow]:
        return await self.store.usage(since, until, tenant)


def usage_csv(rows: list[UsageRow]) -> str:
    """The usage rows as CSV with a header line (ids only: keys never appear in usage)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(USAGE_COLUMNS)
    writer.writerows(usage_values(r) for r in rows)
    return out.getvalue()


def usage_json(rows: list[UsageRow]) -> list[dict]:
    return [dict(zip(USAGE_COLUMNS, usage_values(r), strict=True)) for r in rows]
