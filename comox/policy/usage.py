"""Usage accounting: per tenant, key, model, backend and UTC day, buffered and flushed in batches.

`settle()` only notes a call in memory (no I/O on the request path); a background task
writes the rows to the store every `flush_interval` seconds as additive upserts. A crash
loses at most the last interval; a clean shutdown waits for a flush under way and flushes
the rest, and says how many calls' usage it could not write. While the store is down, rows
are kept and retried, up to `max_pending` distinct rows; usage beyond that is dropped and
counted in `stats.dropped_calls`.

A call is noted by appending its usage object to its row's list, and the lists are added up
only every `FOLD` calls and at each flush: reading the three token counts of every call
cost more than the rest of the accounting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from comox.api.call import Call
from comox.policy.budgets import day_of, period_bounds
from comox.policy.keys import KeyRecord
from comox.stores.base import Store, UsageRow

log = logging.getLogger("comox.usage")

Group = tuple[str, str, str, str, str]
FOLD = 64
"""Usage objects a row holds before they are added up: bounds memory between flushes."""


@dataclass(slots=True)
class UsageStats:
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


_PROMPT, _COMPLETION, _TOTAL = (itemgetter(f"{n}_tokens") for n in ("prompt", "completion", "total"))


def add_up(counts: list[int], usages: list[dict | None]) -> None:
    """Add calls with these usage objects to counts (requests, errors, prompt, completion, total).

    The common case, every usage object with the three counts as integers and a total, is
    added up in C (`map`, `sum`); anything else goes through `tokens_of` one by one. Called
    off the request path, it must not raise: an unreadable usage object adds no tokens."""
    counts[0] += len(usages)
    present = list(filter(None, usages))  # calls without usage add no tokens (as tokens_of says)
    try:
        prompt, completion = sum(map(_PROMPT, present)), sum(map(_COMPLETION, present))
        totals = list(map(_TOTAL, present))
        total = sum(totals)
        if type(prompt) is int and type(completion) is int and type(total) is int and 0 not in totals:
            counts[2] += prompt
            counts[3] += completion
            counts[4] += total
            return
    except (KeyError, TypeError):
        pass
    for usage in present:
        try:
            prompt, completion, total = tokens_of(usage)
        except (AttributeError, TypeError, ValueError):
            continue  # usage the engine garbled adds no tokens; the call still counts
        counts[2] += prompt
        counts[3] += completion
        counts[4] += total


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
        self._calls: dict[Group, list[dict | None]] = {}
        """Per row: the usage objects of its calls not added up yet. Every row is here."""
        self._counts: dict[Group, list[int]] = {}
        """Per row: what was added up (requests, errors, prompt, completion, total tokens)."""
        self._task: asyncio.Task | None = None
        self._flushing: asyncio.Future | None = None
        self._day, self._day_starts, self._day_ends = "", 0.0, 0.0

    def today(self, now: float) -> str:
        """The UTC day of `now`, formatted once per day rather than once per call."""
        if not self._day_starts <= now < self._day_ends:
            start, end = period_bounds(now, "day")
            self._day = day_of(start.timestamp())
            self._day_starts, self._day_ends = start.timestamp(), end.timestamp()
        return self._day

    def admit(self, call: Call) -> None:
        if call.principal is not None:
            call.want_usage = True

    def settle(self, call: Call) -> None:
        key: KeyRecord | None = call.principal
        if key is None:
            return
        now = self.clock()
        day = self._day if self._day_starts <= now < self._day_ends else self.today(now)
        group = (day, key.tenant, key.id, call.model, call.backend or "-")
        usages = self._calls.get(group)
        if usages is None:
            if len(self._calls) >= self.max_pending:
                self.stats.dropped_calls += 1
                return
            usages = self._calls[group] = []
        usages.append(call.usage)
        if call.status >= 400 or call.error is not None:
            self._counts_of(group)[1] += 1
        if len(usages) >= FOLD:
            add_up(self._counts_of(group), usages)
            usages.clear()

    def _counts_of(self, group: Group) -> list[int]:
        counts = self._counts.get(group)
        if counts is None:
            counts = self._counts[group] = [0, 0, 0, 0, 0]
        return counts

    @property
    def pending_calls(self) -> int:
        """Calls noted and not yet written."""
        return sum(len(u) for u in self._calls.values()) + sum(c[0] for c in self._counts.values())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            # shielded: stopping the flusher must not abandon a batch taken off the buffer
            self._flushing = asyncio.ensure_future(self.flush())
            await asyncio.shield(self._flushing)

    async def flush(self) -> None:
        if not self._calls:
            return
        calls, counts = self._calls, self._counts
        self._calls, self._counts = {}, {}
        batch = {}
        for group, usages in calls.items():
            row = counts.get(group) or [0, 0, 0, 0, 0]
            add_up(row, usages)
            batch[group] = row
        # sorted: concurrent flushers from several workers lock rows in one order (no deadlock)
        rows = [UsageRow(*group, *row) for group, row in sorted(batch.items())]
        try:
            await self.store.add_usage(rows)
        except Exception as exc:
            self.stats.flush_errors += 1
            log.warning("usage flush failed; will retry", extra={"fields": {"error": str(exc)}})
            for group, row in batch.items():
                merge(self._counts, group, row)
                self._calls.setdefault(group, [])
            return
        self.stats.flushed_rows += len(rows)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._flushing is not None:
            await asyncio.wait([self._flushing])
            self._flushing = None
        await self.flush()
        if self._calls:
            fields = {"calls": self.pending_calls, "rows": len(self._calls)}
            log.error("usage could not be written at shutdown; it is lost", extra={"fields": fields})
