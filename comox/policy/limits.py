"""Rate-limit and budget counting: pure arithmetic on an injected clock, and the in-memory backend.

A window counter (requests or tokens per minute) is a sliding window of `SLOTS` one-second
slots: a use counts until its slot leaves the window, so at most `limit` uses fall in any
minute (up to slot granularity) and nothing refills in the middle of a burst: 200 requests
against 60/min give exactly 60 successes. A total counter (a budget) is one number per
calendar period; its key names the period, so a new period starts from zero by itself.

`MemoryCounters` keeps each window in a `Ring` of slot counts (O(1) per use); the Redis
backend runs the same steps in a Lua script (`comox/stores/redis_counters.py`) and shares
`retry_after()`. Both check every counter of a call and charge all of them, or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

SLOTS = 60


@dataclass(frozen=True, slots=True)
class Counter:
    """One limit to check and charge for a call."""

    key: str
    """Storage key, e.g. 'rpm:k:key_1a2b' or 'budget:t:acme:2024-06'."""
    limit: int
    cost: int
    """Charged on admission. 0 means only check that something is left (tokens are charged
    after the answer, when the engine has counted them)."""
    window: float = 60.0
    """Seconds of a sliding window; 0 for a period total."""
    ends_at: float = 0.0
    """For a period total: when the period ends (epoch seconds)."""


@dataclass(slots=True)
class Outcome:
    """The verdict on a list of counters; nothing was charged when `refused` >= 0."""

    refused: int = -1
    """Index of the first counter that refused, or -1."""
    used: list[int] = field(default_factory=list)
    """Each counter's use after this call's charge."""
    resets: list[float] = field(default_factory=list)
    """Seconds until each counter is back to its full limit, as OpenAI's x-ratelimit-reset-*
    means it (the newest use leaves the window); for the refused one: until this call fits."""

    @property
    def ok(self) -> bool:
        return self.refused < 0


def retry_after(slots: dict[int, int], counter: Counter, now: float, used: int) -> float:
    """Seconds until enough uses leave the window for `counter.cost` to fit again."""
    if counter.window <= 0:
        return max(counter.ends_at - now, 0.0)
    slot_len = counter.window / SLOTS
    need = used + max(counter.cost, 1) - counter.limit
    freed = 0
    for s in sorted(slots):
        freed += slots[s]
        if freed >= need:
            return max((s + SLOTS) * slot_len - now, 0.0)
    return counter.window


class Ring:
    """One window counter's slots in a fixed ring: O(1) per use, advanced by the clock."""

    __slots__ = ("counts", "head", "total")

    def __init__(self) -> None:
        self.counts = [0] * SLOTS
        self.total = 0
        self.head = -1

    def advance(self, slot: int) -> None:
        """Forget the slots that left the window by `slot` (a clock going back is ignored)."""
        head = self.head
        if slot <= head:
            return
        if head < 0 or slot - head >= SLOTS:
            self.counts = [0] * SLOTS
            self.total = 0
        else:
            counts = self.counts
            for s in range(head + 1, slot + 1):
                i = s % SLOTS
                self.total -= counts[i]
                counts[i] = 0
        self.head = slot

    def add(self, amount: int) -> None:
        self.counts[self.head % SLOTS] += amount
        self.total += amount

    def live(self) -> dict[int, int]:
        """Slot -> uses, for the slots in the window (for `retry_after`)."""
        first = self.head - SLOTS + 1
        return {s: self.counts[s % SLOTS] for s in range(first, self.head + 1) if self.counts[s % SLOTS]}


class Counters(Protocol):
    """Where counter states live: this process (`MemoryCounters`) or Redis, shared."""

    async def take(self, counters: Sequence[Counter], now: float) -> Outcome:
        """Check all counters and charge their costs atomically (all or none)."""

    async def add(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        """Charge `amount` to every counter without checking."""

    def charge_soon(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        """`add` without waiting, for `settle()` (which must not block); errors are logged."""

    async def seed(self, counter: Counter, used: int) -> None:
        """Start a period total at `used` unless it already has a value (budgets after a restart)."""

    async def aclose(self) -> None: ...


class MemoryCounters:
    """Counters in this process: exact for one worker; each worker counts alone (see docs)."""

    def __init__(self) -> None:
        self._rings: dict[str, Ring] = {}
        self._totals: dict[str, int] = {}

    def _ring(self, counter: Counter, now: float) -> Ring:
        ring = self._rings.get(counter.key)
        if ring is None:
            ring = self._rings[counter.key] = Ring()
        ring.advance(int(now // (counter.window / SLOTS)))
        return ring

    async def take(self, counters: Sequence[Counter], now: float) -> Outcome:
        return self.take_now(counters, now)

    def take_now(self, counters: Sequence[Counter], now: float) -> Outcome:
        """`take` without a coroutine: the limits stage calls it directly for this backend."""
        rings, totals = self._rings, self._totals
        found: list = []
        for c in counters:
            if c.window > 0:
                ring = rings.get(c.key)
                if ring is None:
                    ring = rings[c.key] = Ring()
                slot = int(now // (c.window / SLOTS))
                if slot > ring.head:
                    ring.advance(slot)
                used = ring.total
            else:
                ring, used = None, totals.get(c.key, 0)
            if (used + c.cost > c.limit) if c.cost > 0 else (used >= c.limit):
                live = ring.live() if ring is not None else {}
                return Outcome(len(found), [used], [retry_after(live, c, now, used)])
            found.append((c, ring, used))
        used_list: list[int] = []
        resets: list[float] = []
        for c, ring, used in found:
            cost = c.cost
            if ring is not None:
                if cost:
                    ring.counts[ring.head % SLOTS] += cost
                    ring.total += cost
                resets.append((ring.head + SLOTS) * c.window / SLOTS - now)
            else:
                if cost:
                    totals[c.key] = used + cost
                resets.append(c.ends_at - now)
            used_list.append(used + cost)
        return Outcome(-1, used_list, resets)

    async def add(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        self.charge_soon(counters, amount, now)

    def charge_soon(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        for c in counters:
            if c.window > 0:
                self._ring(c, now).add(amount)
            else:
                self._totals[c.key] = self._totals.get(c.key, 0) + amount

    async def seed(self, counter: Counter, used: int) -> None:
        self._totals.setdefault(counter.key, used)

    async def aclose(self) -> None:
        self._rings.clear()
        self._totals.clear()
