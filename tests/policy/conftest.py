"""Counter backends for the shared contract: in memory, and a real Redis under a unique prefix."""

from __future__ import annotations

import pytest

from comox.policy.limits import MemoryCounters
from comox.testing.databases import REDIS_URL, redis_prefix


def _redis_counters(prefix: str):
    from comox.stores.redis_counters import RedisCounters

    return RedisCounters.from_url(REDIS_URL, prefix)


@pytest.fixture(params=["memory", "redis"])
def make_counters(request):
    """A factory of fresh counter backends of one kind; Redis keys are removed afterwards."""
    if request.param == "memory":
        yield MemoryCounters
        return
    prefixes = redis_prefix("counters")
    prefix = next(prefixes)
    yield lambda: _redis_counters(prefix)
    next(prefixes, None)  # deletes the prefix's keys
