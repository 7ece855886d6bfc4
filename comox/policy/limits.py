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

import math
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
    """One window counter's slots in a fixed ring: O(1) per use, advanced by the clock.

    The newest slot's uses are kept in `current` and written into `counts` when the ring
    moves on, so a use adds to two attributes rather than indexing the ring."""

    __slots__ = ("counts", "current", "head", "total")

    def __init__(self) -> None:
        self.counts = [0] * SLOTS
        self.current = 0
        """Uses in slot `head` (its entry in `counts` is written when the ring moves on)."""
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
            counts[head % SLOTS] = self.current
            for s in range(head + 1, slot + 1):
                i = s % SLOTS
                self.total -= counts[i]
                counts[i] = 0
        self.current = 0
        self.head = slot

    def add(self, amount: int) -> None:
        self.current += amount
        self.total += amount

    def live(self) -> dict[int, int]:
        """Slot -> uses, for the slots in the window (for `retry_after`)."""
        first = self.head - SLOTS + 1
        slots = {s: self.counts[s % SLOTS] for s in range(first, self.head) if self.counts[s % SLOTS]}
        if self.current:
            slots[self.head] = self.current
        return slots


class Total:
    """One period total's count in memory; `seeded` once `seed()` set it (it seeds only once)."""

    __slots__ = ("seeded", "total")

    def __init__(self) -> None:
        self.total = 0
        self.seeded = False


class Tally:
    """A fixed list of counters bound to their cells in one `MemoryCounters`, with every
    lookup done at bind time: a call's check and charge is arithmetic on those cells, with no
    dict lookup, coroutine or `Outcome`. Made by `MemoryCounters.bind()`, once per plan.

    Its windows share one length, so they move to a new slot together, checked by one
    comparison of the clock with the end of the slot they are in."""

    __slots__ = (
        "charged_rings",
        "charged_totals",
        "checks",
        "report_count",
        "reported",
        "rings",
        "slot_ends",
        "slot_len",
        "totals",
    )

    def __init__(
        self, counters: Sequence[Counter], cells: Sequence[Ring | Total], report: Sequence[int]
    ) -> None:
        windows = {c.window for c in counters if c.window > 0}
        if len(windows) > 1:
            raise ValueError("a tally's windows must all have one length")
        self.slot_ends = -math.inf if windows else math.inf
        """When the current slot ends: the windows move on at the first call from then."""
        self.slot_len = windows.pop() / SLOTS if windows else 1.0
        pairs = list(zip(counters, cells, strict=True))
        self.rings = tuple(cell for c, cell in pairs if c.window > 0)
        self.totals = tuple(cell for c, cell in pairs if c.window <= 0)
        self.checks = tuple((cell, c.limit - max(c.cost, 1)) for c, cell in pairs)
        """(cell, the most it may hold for this call to fit): one comparison per counter."""
        self.charged_rings = tuple((cell, c.cost) for c, cell in pairs if c.cost and c.window > 0)
        self.charged_totals = tuple((cell, c.cost) for c, cell in pairs if c.cost and c.window <= 0)
        self.reported = tuple((cells[i], counters[i].limit) for i in report)
        self.report_count = len(self.reported)

    def move(self, now: float) -> None:
        """Move the windows to the slot of `now` and note when that slot ends (the first
        instant whose slot is later, found exactly, so the rings and `take_now` agree)."""
        slot = int(now // self.slot_len)
        for ring in self.rings:
            ring.advance(slot)
        ends = (slot + 1) * self.slot_len
        while int(ends // self.slot_len) <= slot:
            ends = math.nextafter(ends, math.inf)
        while int(math.nextafter(ends, -math.inf) // self.slot_len) > slot:
            ends = math.nextafter(ends, -math.inf)
        self.slot_ends = ends

    def take(self, now: float) -> tuple[int, ...] | None:
        """`take_now` for these counters: once charged, the room left (limit - use) in each
        reported counter; None, with nothing charged, if a counter refuses (the caller then
        asks `take_now` for the details)."""
        if now >= self.slot_ends:
            self.move(now)
        for cell, most in self.checks:
            if cell.total > most:
                return None
        for ring, cost in self.charged_rings:
            ring.current += cost
            ring.total += cost
        if self.charged_totals:
            for cell, cost in self.charged_totals:
                cell.total += cost
        if self.report_count == 2:  # requests and tokens: the common plan, without a loop
            (first, first_limit), (second, second_limit) = self.reported
            return first_limit - first.total, second_limit - second.total
        return tuple([limit - cell.total for cell, limit in self.reported])

    def charge(self, amount: int, now: float) -> None:
        """`charge_soon` for these counters."""
        if now >= self.slot_ends:
            self.move(now)
        for ring in self.rings:
            ring.current += amount
            ring.total += amount
        for cell in self.totals:
            cell.total += amount


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
    """Counters in this process: exact for one worker; each worker counts alone (see docs).

    Besides the `Counters` methods it offers `take_now` (a take without a coroutine) and
    `bind` (a `Tally`: the same for a fixed list of counters, with the lookups done once)."""

    def __init__(self) -> None:
        self._rings: dict[str, Ring] = {}
        self._totals: dict[str, Total] = {}

    def cell(self, counter: Counter) -> Ring | Total:
        """The object that holds `counter`'s count, made on first use and kept."""
        if counter.window > 0:
            ring = self._rings.get(counter.key)
            if ring is None:
                ring = self._rings[counter.key] = Ring()
            return ring
        total = self._totals.get(counter.key)
        if total is None:
            total = self._totals[counter.key] = Total()
        return total

    def bind(self, counters: Sequence[Counter], report: Sequence[int] = ()) -> Tally | None:
        """A `Tally` of `counters` that reports the room left in those at `report`; None when
        their windows differ in length (then `take_now` and `charge_soon` serve them)."""
        if len({c.window for c in counters if c.window > 0}) > 1:
            return None
        return Tally(counters, [self.cell(c) for c in counters], report)

    async def take(self, counters: Sequence[Counter], now: float) -> Outcome:
        return self.take_now(counters, now)

    def take_now(self, counters: Sequence[Counter], now: float) -> Outcome:
        """`take` without a coroutine, for callers in this process. Every window moves to
        `now` before any is checked, as in the Redis script."""
        cells = [self.cell(c) for c in counters]
        for c, cell in zip(counters, cells, strict=True):
            if isinstance(cell, Ring):
                cell.advance(int(now // (c.window / SLOTS)))
        for i, (c, cell) in enumerate(zip(counters, cells, strict=True)):
            used = cell.total
            if (used + c.cost > c.limit) if c.cost > 0 else (used >= c.limit):
                live = cell.live() if isinstance(cell, Ring) else {}
                return Outcome(i, [used], [retry_after(live, c, now, used)])
        outcome = Outcome()
        for c, cell in zip(counters, cells, strict=True):
            if isinstance(cell, Ring):
                cell.add(c.cost)
                outcome.resets.append((cell.head + SLOTS) * c.window / SLOTS - now)
            else:
                cell.total += c.cost
                outcome.resets.append(c.ends_at - now)
            outcome.used.append(cell.total)
        return outcome

    async def add(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        self.charge_soon(counters, amount, now)

    def charge_soon(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        for c in counters:
            cell = self.cell(c)
            if isinstance(cell, Ring):
                cell.advance(int(now // (c.window / SLOTS)))
                cell.add(amount)
            else:
                cell.total += amount

    async def seed(self, counter: Counter, used: int) -> None:
        total = self.cell(counter)
        assert isinstance(total, Total), "only period totals are seeded"
        if not total.seeded and not total.total:
            total.total, total.seeded = used, True

    async def aclose(self) -> None:
        self._rings.clear()
        self._totals.clear()
