"""Group commit: many requests' records made durable by one transaction and one fsync.

`commit(entry)` queues the record and waits until the batch holding it is durable. One
task writes batches in a loop: it takes everything queued, waits `window` seconds first if
asked (to gather more), and writes the batch; records arriving during a write form the next
batch, so under load the cost of an fsync is shared by every request that came in while
the previous one ran, and at low load a record is written at once. At most `max_pending`
records wait; beyond that `commit` waits for room (backpressure, never unbounded memory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from comox.audit.record import Entry

log = logging.getLogger("comox.audit")

Write = Callable[[Sequence[Entry]], Awaitable[None]]


@dataclass(slots=True)
class CommitStats:
    records: int = 0
    batches: int = 0
    failed_batches: int = 0
    largest_batch: int = 0
    waits_for_room: int = 0


class GroupCommitter:
    def __init__(self, write: Write, window: float = 0.0, max_pending: int = 10000) -> None:
        self.write = write
        self.window = window
        self.stats = CommitStats()
        self._room = asyncio.Semaphore(max_pending)
        self._queue: list[tuple[Entry, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def commit(self, entry: Entry) -> None:
        """Return once `entry` is durable; raise what the write raised if it failed."""
        if self._room.locked():
            self.stats.waits_for_room += 1
        async with self._room:
            future = asyncio.get_running_loop().create_future()
            self._queue.append((entry, future))
            self._wake.set()
            await asyncio.shield(future)  # a cancelled request still gets its record written

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.window and not self._closing:
                await asyncio.sleep(self.window)
            batch, self._queue = self._queue, []
            try:
                await self.write([entry for entry, _ in batch])
            except Exception as exc:
                self.stats.failed_batches += 1
                log.error("audit commit failed", extra={"fields": {"records": len(batch), "error": str(exc)}})
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.records += len(batch)
            self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def aclose(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
