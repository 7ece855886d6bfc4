"""Counter backends for the shared contract: in memory, and a real Redis under a unique prefix."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from comox.policy.limits import MemoryCounters

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_counters(prefix: str):
    from comox.stores.redis_counters import RedisCounters

    return RedisCounters.from_url(REDIS_URL, prefix)


async def _cleanup(prefix: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def make_counters(request):
    """A factory of fresh counter backends of one kind; Redis keys are removed afterwards."""
    prefix = f"comox-test-{uuid.uuid4().hex[:8]}:"
    if request.param == "memory":
        yield MemoryCounters
        return
    yield lambda: _redis_counters(prefix)
    asyncio.run(_cleanup(prefix))
