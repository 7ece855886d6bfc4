"""Window and budget counting: the pure arithmetic, and both backends against one contract."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from comox.policy.limits import SLOTS, Counter, MemoryCounters, retry_after

T0 = 1_700_000_000.0  # a whole second, so slots are easy to reason about


def take(counters: MemoryCounters, *items: Counter, at: float):
    return counters.take_now(items, at)


def test_window_admits_exactly_the_limit_then_refuses_with_time_until_room() -> None:
    counters, rpm = MemoryCounters(), Counter("rpm:k:a", 3, 1)
    for i in range(3):
        outcome = take(counters, rpm, at=T0 + i)
        assert outcome.ok and outcome.used == [i + 1]
    assert outcome.resets == [60.0]  # back to the full limit when the newest use leaves
    outcome = take(counters, rpm, at=T0 + 10)
    assert outcome.refused == 0
    assert outcome.resets == [50.0]  # the first use (at T0) leaves the window at T0 + 60


def test_uses_leave_the_window_after_a_minute() -> None:
    counters, rpm = MemoryCounters(), Counter("rpm", 1, 1)
    assert take(counters, rpm, at=T0).ok
    assert not take(counters, rpm, at=T0 + 59.5).ok
    assert take(counters, rpm, at=T0 + 60).ok
    assert not take(counters, rpm, at=T0 + 30).ok  # a clock going back counts in the newest slot


def test_nothing_is_charged_when_any_counter_refuses() -> None:
    counters = MemoryCounters()
    key, tenant = Counter("rpm:k", 10, 1), Counter("rpm:t", 1, 1)
    assert take(counters, tenant, at=T0).ok
    assert take(counters, key, tenant, at=T0).refused == 1
    assert take(counters, key, at=T0).used == [1]  # the key's counter was not charged before


def test_token_counter_is_checked_not_charged_and_refuses_only_when_exhausted() -> None:
    counters, tpm = MemoryCounters(), Counter("tpm", 100, 0)
    counters.charge_soon([tpm], 99, T0)
    assert take(counters, tpm, at=T0).used == [99]
    counters.charge_soon([tpm], 1, T0)
    assert take(counters, tpm, at=T0).refused == 0


def test_budget_total_refuses_until_its_period_ends() -> None:
    counters = MemoryCounters()
    budget = Counter("budget:k:a:2023-11", 1000, 0, window=0.0, ends_at=T0 + 3600)
    counters.charge_soon([budget], 999, T0)
    assert take(counters, budget, at=T0).ok
    counters.charge_soon([budget], 1, T0)
    outcome = take(counters, budget, at=T0)
    assert outcome.refused == 0 and outcome.resets == [3600.0]


def test_retry_after_waits_for_enough_uses_to_leave() -> None:
    rpm = Counter("rpm", 4, 1)
    slots = {int(T0): 2, int(T0) + 5: 2}
    assert retry_after(slots, rpm, T0 + 10, 4) == 50.0
    tokens = Counter("tpm", 4, 0)
    assert retry_after({int(T0): 1, int(T0) + 5: 5}, tokens, T0 + 10, 6) == 55.0


def test_backends_admit_the_same_requests(make_counters) -> None:
    async def run() -> None:
        counters = make_counters()
        rpm, tpm = Counter("rpm:k:x", 5, 1), Counter("tpm:k:x", 50, 0)
        results = [(await counters.take([rpm, tpm], T0 + i * 0.1)).ok for i in range(8)]
        assert results == [True] * 5 + [False] * 3
        await counters.add([tpm], 50, T0 + 1)
        refused = await counters.take([Counter("rpm:k:y", 5, 1), tpm], T0 + 2)
        assert refused.refused == 1 and refused.resets == [59.0]  # T0+1's tokens leave at T0+61
        assert (await counters.take([rpm, tpm], T0 + SLOTS + 1)).ok  # both windows moved on
        await counters.aclose()

    asyncio.run(run())


def test_backends_slide_windows_slot_by_slot(make_counters) -> None:
    """Uses leave a window one second-slot at a time as the clock moves, in both backends."""

    async def run() -> None:
        counters = make_counters()
        tpm = Counter("tpm:k:slide", 100, 0)
        for at, amount in ((0, 10), (10, 20), (30, 30), (30.5, 5)):
            await counters.add([tpm], amount, T0 + at)
        used = [(await counters.take([tpm], T0 + at)).used[0] for at in (59, 60.5, 70.5, 89, 90.5, 200)]
        assert used == [65, 55, 35, 35, 0, 0]
        await counters.add([tpm], 7, T0 + 201)
        assert (await counters.take([tpm], T0 + 202)).used == [7]
        await counters.aclose()

    asyncio.run(run())


def test_backends_keep_budgets_and_seed_only_once(make_counters) -> None:
    async def run() -> None:
        counters = make_counters()
        now = float(int(time.time()))  # Redis expires the total a day after the period: real time
        budget = Counter("budget:t:acme:this-month", 100, 0, window=0.0, ends_at=now + 86400)
        await counters.seed(budget, 90)
        await counters.seed(budget, 0)  # a second worker starting: the counter keeps its value
        assert (await counters.take([budget], now)).ok
        counters.charge_soon([budget], 10, now)
        await asyncio.sleep(0.05)
        outcome = await counters.take([budget], now + 1)
        assert outcome.refused == 0 and outcome.used == [100]
        await counters.aclose()

    asyncio.run(run())


def test_backends_are_atomic_under_concurrency(make_counters) -> None:
    """Memory: one worker's backend. Redis: four clients (as four gateways) share the limit."""

    async def run() -> None:
        first = make_counters()
        clients = (
            [first]
            if type(first).__name__ == "MemoryCounters"
            else [first] + [make_counters() for _ in range(3)]
        )
        rpm = Counter("rpm:k:burst", 60, 1)
        outcomes = await asyncio.gather(*(clients[i % len(clients)].take([rpm], T0) for i in range(200)))
        assert sum(o.ok for o in outcomes) == 60
        for client in clients:
            await client.aclose()

    asyncio.run(run())


_TIMES = st.floats(min_value=-90.0, max_value=200.0, allow_nan=False).map(lambda d: T0 + d)
_STEPS = st.lists(st.tuples(st.sampled_from(["take", "charge"]), _TIMES, st.integers(0, 40)), max_size=60)


@given(steps=_STEPS, rpm=st.integers(1, 30), tpm=st.integers(1, 200))
@settings(max_examples=300, deadline=None)
def test_a_bound_tally_counts_exactly_as_take_now(steps, rpm, tpm) -> None:
    """The limits stage's fast path (a `Tally`) and `take_now`/`charge_soon` agree call by call,
    whatever the clock does (slot edges, jumps, steps back)."""
    window = [Counter("rpm:k:p", rpm, 1), Counter("tpm:k:p", tpm, 0)]
    budget = Counter("budget:k:p:now", 500, 0, window=0.0, ends_at=T0 + 10**6)
    counters = (*window, budget)
    bound, plain = MemoryCounters(), MemoryCounters()
    tally, tokens = bound.bind(counters, report=(0, 1, 2)), bound.bind(counters[1:])
    for op, at, amount in steps:  # in any order: the clock may step back
        if op == "take":
            rooms, outcome = tally.take(at), plain.take_now(counters, at)
            assert (rooms is not None) == outcome.ok
            if outcome.ok:
                assert rooms == tuple(c.limit - used for c, used in zip(counters, outcome.used, strict=True))
        else:
            tokens.charge(amount, at)
            plain.charge_soon(counters[1:], amount, at)
        for c in counters:
            assert bound.cell(c).total == plain.cell(c).total
    for c in window:  # what is left in each window, slot by slot
        assert bound.cell(c).live() == plain.cell(c).live()
