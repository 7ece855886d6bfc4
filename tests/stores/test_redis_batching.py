"""Batched counter scripts on a real Redis: many concurrent calls share round trips, and a
Redis that lost its scripts is recovered from without failing a call."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis

from comox.policy.limits import Counter
from comox.stores.redis_counters import RedisCounters

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_concurrent_takes_share_round_trips_and_admit_exactly_the_limit():
    async def run() -> tuple[int, int]:
        prefix = f"comox-test:{uuid.uuid4().hex[:8]}:"
        counters = RedisCounters.from_url(REDIS_URL, prefix)
        limit = [Counter(key="k:rpm", limit=40, cost=1, window=60.0)]
        try:
            outcomes = await asyncio.gather(*(counters.take(limit, 1000.0) for _ in range(100)))
            return sum(o.ok for o in outcomes), counters._batcher.round_trips
        finally:
            client = redis.from_url(REDIS_URL)
            await client.delete(prefix + "w2:k:rpm")
            await client.aclose()
            await counters.aclose()

    admitted, round_trips = asyncio.run(run())
    assert admitted == 40
    assert round_trips < 20  # 100 calls, far fewer round trips


def test_flushed_scripts_are_loaded_again():
    async def run() -> bool:
        prefix = f"comox-test:{uuid.uuid4().hex[:8]}:"
        counters = RedisCounters.from_url(REDIS_URL, prefix)
        limit = [Counter(key="k:rpm", limit=10, cost=1, window=60.0)]
        client = redis.from_url(REDIS_URL)
        try:
            assert (await counters.take(limit, 1000.0)).ok
            await client.script_flush()
            return (await counters.take(limit, 1000.0)).ok
        finally:
            await client.delete(prefix + "w2:k:rpm")
            await client.aclose()
            await counters.aclose()

    assert asyncio.run(run())
