"""Usage accounting: per tenant, key, model, backend and UTC day, buffered and flushed in batches.

`settle()` only adds to an in-memory row (no I/O on the request path); a background task
writes the rows to the store every `flush_interval` seconds as additive upserts. A crash
loses at most the last interval; a clean shutdown flushes. While the store is down, rows
are kept and retried, up to `max_pending` distinct rows; usage beyond that is dropped and
counted in `stats.dropped_calls`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from comox.api.call import Call
from comox.policy.budgets import day_of, period_bounds
from comox.policy.keys import KeyRecord
from comox.stores.base import Store, UsageRow

log = logging.getLogger("comox.usage")

Group = tuple[str, str, str, str, str]


@dataclass(slots=True)
class UsageStats:
    recorded_calls: int = 0
    flushed_rows: int = 0
    flush_errors: int = 0
    dropped_calls: int = 0


def tokens_of(usage: dict | None) -> tuple[int, int, int]:
    """(prompt, completion, total) from an OpenAI usage object; zeros when absent."""
    if not usage:
        return 0, 0, 0
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    total = usage.get("total_tokens") or prompt + completion
    return int(prompt), int(completion), int(total)


def merge(pending: dict[Group, list[int]], group: Group, counts: list[int]) -> None:
    row = pending.get(group)
    if row is None:
        pending[group] = list(counts)
    else:
        for i, n in enumerate(counts):
            row[i] += n


class UsageRecorder:
    def __init__(
        self,
        store: Store,
        flush_interval: float = 1.0,
        max_pending: int = 10000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.clock = clock
        self.stats = UsageStats()
        self._pending: dict[Group, list[int]] = {}
        self._task: asyncio.Task | None = None
        self._day, self._day_ends = "", 0.0

    def today(self, now: float) -> str:
        """The UTC day of `now`, formatted once per day rather than once per call."""
        if not self._day_ends - 86400 <= now < self._day_ends:
            start, end = period_bounds(now, "day")
            self._day, self._day_ends = day_of(start.timestamp()), end.timestamp()
        return self._day

    def admit(self, call: Call) -> None:
        if call.principal is not None:
            call.want_usage = True

    def settle(self, call: Call) -> None:
        key: KeyRecord | None = call.principal
        if key is None:
            return
        group = (self.today(self.clock()), key.tenant, key.id, call.model, call.backend or "-")
        if group not in self._pending and len(self._pending) >= self.max_pending:
            self.stats.dropped_calls += 1
            return
        failed = 1 if call.error is not None or call.status >= 400 else 0
        prompt, completion, total = tokens_of(call.usage)
        row = self._pending.get(group)
        if row is None:
            self._pending[group] = [1, failed, prompt, completion, total]
        else:
            row[0] += 1
            row[1] += failed
            row[2] += prompt
            row[3] += completion
            row[4] += total
        self.stats.recorded_calls += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        # sorted: concurrent flushers from several workers lock rows in one order (no deadlock)
        rows = [UsageRow(*group, *counts) for group, counts in sorted(batch.items())]
        try:
            await self.store.add_usage(rows)
        except Exception as exc:
            self.stats.flush_errors += 1
            log.warning("usage flush failed; will retry", extra={"fields": {"error": str(exc)}})
            for group, counts in batch.items():
                merge(self._pending, group, counts)
            return
        self.stats.flushed_rows += len(rows)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()
