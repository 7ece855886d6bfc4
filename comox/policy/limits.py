"""Rate-limit and budget counting: pure arithmetic on an injected clock, and the in-memory backend.

A window counter (requests or tokens per minute) is a sliding window of `SLOTS` one-second
slots: a use counts until its slot leaves the window, so at most `limit` uses fall in any
minute (up to slot granularity) and nothing refills in the middle of a burst: 200 requests
against 60/min give exactly 60 successes. A total counter (a budget) is one number per
calendar period; its key names the period, so a new period starts from zero by itself.

`decide()` is the whole policy, used as is by `MemoryCounters`; the Redis backend runs the
same steps in a Lua script (`comox/stores/redis_counters.py`) and shares `retry_after()`.
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
    """Seconds until each counter frees room (for the refused one: until this call fits)."""

    @property
    def ok(self) -> bool:
        return self.refused < 0


def fits(used: int, cost: int, limit: int) -> bool:
    return used + cost <= limit if cost > 0 else used < limit


def slot_of(now: float, window: float) -> int:
    return int(now // (window / SLOTS))


def live(slots: dict[int, int], current: int) -> dict[int, int]:
    """The slots still inside the window (pure: returns a new dict)."""
    return {s: n for s, n in slots.items() if s > current - SLOTS}


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


def decide(
    counters: Sequence[Counter], states: Sequence[dict[int, int] | int], now: float
) -> tuple[Outcome, list[dict[int, int] | int]]:
    """Check every counter against its state; charge all of them only if all fit.

    Returns the outcome and the new states (the inputs are not modified).
    """
    outcome = Outcome()
    current: list[dict[int, int] | int] = []
    for i, (counter, state) in enumerate(zip(counters, states, strict=True)):
        if counter.window > 0:
            slots = live(state, slot_of(now, counter.window))  # type: ignore[arg-type]
            used = sum(slots.values())
            current.append(slots)
        else:
            used = state  # type: ignore[assignment]
            current.append(used)
        if outcome.ok and not fits(used, counter.cost, counter.limit):
            outcome.refused = i
            outcome.used = [used]
            outcome.resets = [retry_after(current[-1] or {}, counter, now, used)]  # type: ignore[arg-type]
    if not outcome.ok:
        return outcome, current
    return _charge(counters, current, now, [c.cost for c in counters])


def charge(
    counters: Sequence[Counter], states: Sequence[dict[int, int] | int], now: float, amount: int
) -> list[dict[int, int] | int]:
    """Add `amount` to every counter without checking (tokens counted after the answer)."""
    current = [
        live(s, slot_of(now, c.window)) if c.window > 0 else s  # type: ignore[arg-type]
        for c, s in zip(counters, states, strict=True)
    ]
    return _charge(counters, current, now, [amount] * len(counters))[1]


def _charge(counters, current, now, amounts) -> tuple[Outcome, list]:
    outcome = Outcome()
    new: list[dict[int, int] | int] = []
    for counter, state, amount in zip(counters, current, amounts, strict=True):
        if counter.window > 0:
            slots = dict(state)
            if amount:
                slot = slot_of(now, counter.window)
                slots[slot] = slots.get(slot, 0) + amount
            used = sum(slots.values())
            oldest = min(slots) if slots else slot_of(now, counter.window)
            reset = max((oldest + SLOTS) * counter.window / SLOTS - now, 0.0)
            new.append(slots)
        else:
            used = state + amount
            reset = max(counter.ends_at - now, 0.0)
            new.append(used)
        outcome.used.append(used)
        outcome.resets.append(reset)
    return outcome, new


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
        self._states: dict[str, dict[int, int] | int] = {}

    def _state(self, counter: Counter) -> dict[int, int] | int:
        return self._states.get(counter.key, {} if counter.window > 0 else 0)

    async def take(self, counters: Sequence[Counter], now: float) -> Outcome:
        outcome, states = decide(counters, [self._state(c) for c in counters], now)
        if outcome.ok:
            self._store(counters, states)
        return outcome

    async def add(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        self.charge_soon(counters, amount, now)

    def charge_soon(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        self._store(counters, charge(counters, [self._state(c) for c in counters], now, amount))

    async def seed(self, counter: Counter, used: int) -> None:
        self._states.setdefault(counter.key, used)

    def _store(self, counters: Sequence[Counter], states: list) -> None:
        for counter, state in zip(counters, states, strict=True):
            self._states[counter.key] = state

    async def aclose(self) -> None:
        self._states.clear()
