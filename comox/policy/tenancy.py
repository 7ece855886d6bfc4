"""Tenancy of one worker, assembled from the config: store, key table, stages, background tasks.

Lifecycle: `from_config()` builds (no I/O), `start()` opens the store, loads the keys,
seeds budget counters from recorded usage and starts the key poller and usage flusher;
`aclose()` flushes usage and releases everything. The poller reads the store's change
counter every `key_refresh_interval` s and reloads the table when it moved, so a key
created or revoked anywhere is seen by every worker and replica within that interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from comox.policy.access import AccessStage
from comox.policy.auth import Authenticator, KeyTable
from comox.policy.budgets import day_of, period_bounds
from comox.policy.limiter import LimitStage, plan
from comox.policy.limits import Counters, MemoryCounters
from comox.policy.registry import Registry
from comox.policy.usage import UsageRecorder
from comox.stores.base import Store, open_store

log = logging.getLogger("comox.tenancy")


def open_counters(url: str, prefix: str) -> Counters:
    if url == "memory":
        return MemoryCounters()
    from comox.stores.redis_counters import RedisCounters

    return RedisCounters.from_url(url, prefix)


class Tenancy:
    def __init__(
        self, config, store: Store, counters: Counters, clock: Callable[[], float] = time.time
    ) -> None:
        t = config.tenancy
        self.config = t
        self.store = store
        self.counters = counters
        self.clock = clock
        self.admin_key = config.admin_key
        self.table = KeyTable()
        self.auth = Authenticator(self.table, closed=config.admin_key is not None, clock=clock)
        self.access = AccessStage()
        self.limits = LimitStage(counters, self.table, clock)
        self.usage = UsageRecorder(store, t.usage_flush_interval, t.usage_max_pending, clock)
        self.registry = Registry(store, t.key_defaults, clock)
        self._poller: asyncio.Task | None = None

    @classmethod
    def from_config(cls, config) -> Tenancy:
        return cls(
            config, open_store(config.store), open_counters(config.limits, config.tenancy.redis_prefix)
        )

    @property
    def stages(self) -> tuple:
        return (self.access, self.limits, self.usage)

    async def start(self) -> None:
        await self.store.open()
        await self.refresh()
        await self.seed_budgets()
        self._poller = asyncio.get_running_loop().create_task(self._poll())
        self.usage.start()

    async def refresh(self) -> bool:
        """Reload keys and tenants if the store changed; True if it did."""
        version = await self.store.keys_version()  # read first: a change after it reloads again
        if version == self.table.version:
            return False
        keys, tenants = await self.store.list_keys(), await self.store.list_tenants()
        self.table.replace(keys, tenants, version)
        return True

    async def _poll(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.config.key_refresh_interval)
            try:
                await self.refresh()
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("cannot refresh keys from the store", extra={"fields": {"error": str(exc)}})
                failing = True

    async def seed_budgets(self) -> None:
        """Start this period's budget counters from the usage recorded so far (after a restart)."""
        now = self.clock()
        owners = [(k, self.table.tenants.get(k.tenant)) for k in self.table.by_hash.values()]
        steps = {
            s.counter.key: s for key, tenant in owners for s in plan(key, tenant, now) if s.kind == "budget"
        }
        if not steps:
            return
        since = period_bounds(now, "month")[0].strftime("%Y-%m-%d")
        rows = await self.store.usage(since, day_of(now))
        for key, step in steps.items():
            scope, ident, label = key.split(":", 3)[1:]
            used = sum(
                r.total_tokens
                for r in rows
                if r.day.startswith(label) and (r.key_id if scope == "k" else r.tenant) == ident
            )
            await self.counters.seed(step.counter, used)

    async def aclose(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        await self.usage.aclose()
        await self.counters.aclose()
        await self.store.aclose()
