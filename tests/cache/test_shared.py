"""The shared cache against a real Redis: answers, TTL, the LRU bound, erasure, and vector
mirrors of two workers kept equal through the announcement stream."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis.asyncio as redis

from comox.cache.semantic import SemanticIndex
from comox.cache.shared import SharedAnswers, VectorMirror
from comox.testing.databases import REDIS_URL as REDIS
from comox.testing.databases import redis_prefix


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix():
    yield from redis_prefix("cache")


def run(coro):
    return asyncio.run(coro)


def vector(*values: float) -> np.ndarray:
    v = np.zeros(4, np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


async def embedded(v: np.ndarray) -> np.ndarray:
    return v


def test_an_answer_is_stored_read_back_and_expires(prefix):
    async def go():
        clock = Clock()
        answers = SharedAnswers(REDIS, prefix, max_entries=10, ttl=60.0, clock=clock)
        assert answers.put("k1", b'{"answer": 1}', "chat", "acme", "subj")
        await answers.flush()
        entry = await answers.get("k1")
        assert (entry.body, entry.form, entry.tenant, entry.subject) == (
            b'{"answer": 1}',
            "chat",
            "acme",
            "subj",
        )
        assert entry.expires == pytest.approx(clock.now + 60.0)
        assert await answers.get("other") is None
        clock.now += 61.0  # past the TTL by the gateway's clock: never served
        assert await answers.get("k1") is None
        await answers.aclose()

    run(go())


def test_the_least_recently_used_answer_goes_first_when_full(prefix):
    async def go():
        clock = Clock()
        answers = SharedAnswers(REDIS, prefix, max_entries=2, ttl=60.0, clock=clock)
        for key in ("a", "b"):
            answers.put(key, key.encode(), "chat", "t", "s")
            await answers.flush()
            clock.now += 1
        assert await answers.get("a") is not None  # a is now the most recently used
        clock.now += 1
        answers.put("c", b"c", "chat", "t", "s")
        await answers.flush()
        assert await answers.get("b") is None
        assert (await answers.get("a")).body == b"a"
        assert (await answers.get("c")).body == b"c"
        assert answers.stats.evictions == 1 and len(answers) == 2
        await answers.aclose()

    run(go())


def test_erasure_drops_a_subjects_answers_in_one_tenant_or_all(prefix):
    async def go():
        answers = SharedAnswers(REDIS, prefix, max_entries=10, ttl=60.0)
        answers.put("a1", b"1", "chat", "acme", "jane")
        answers.put("g1", b"2", "chat", "globex", "jane")
        answers.put("a2", b"3", "chat", "acme", "john")
        await answers.flush()
        assert await answers.erase("jane", "acme") == ["a1"]
        assert await answers.get("a1") is None
        assert await answers.get("g1") is not None
        assert await answers.erase("jane", None) == ["g1"]
        assert await answers.get("a2") is not None
        await answers.aclose()

    run(go())


def test_a_redis_outage_is_a_miss_not_an_error():
    async def go():
        answers = SharedAnswers("redis://127.0.0.1:1/0", "x:", max_entries=10, ttl=60.0)
        assert await answers.get("k") is None
        answers.put("k", b"1", "chat", "t", "s")
        await answers.flush()
        assert answers.errors == 2 and answers.stats.stores == 0
        with pytest.raises((redis.RedisError, OSError)):  # an erasure must not pass for done
            await answers.erase("s", None)
        await answers.aclose()

    run(go())


async def _until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not propagated in time"
        await asyncio.sleep(0.02)


def test_two_workers_mirrors_follow_each_others_vectors_evictions_and_erasures(prefix):
    async def go():
        workers = []
        for _ in range(2):
            answers = SharedAnswers(REDIS, prefix, max_entries=2, ttl=60.0)
            index = SemanticIndex(4)
            answers.mirror = VectorMirror(answers, index, 4)
            answers.mirror.start()
            workers.append((answers, index))
        (a, index_a), (b, index_b) = workers
        await asyncio.sleep(0.1)
        a.put("q1", b"1", "chat", "acme", "jane", "part", embedded(vector(1, 0)))
        await a.flush()
        assert index_a.snapshot("part").best(vector(1, 0))[0] == "q1"  # its own: at once
        await _until(lambda: index_b.snapshot("part") is not None)
        key, score = index_b.snapshot("part").best(vector(1, 0.05))
        assert key == "q1" and score > 0.99
        b.put("q2", b"2", "chat", "acme", "john", "part", embedded(vector(0, 1)))
        await b.flush()
        await _until(lambda: len(index_a) == 2)
        b.put("q3", b"3", "chat", "acme", "john", "part", embedded(vector(0, 0, 1)))  # evicts q1
        await b.flush()
        await _until(lambda: "q1" not in index_a._where and "q1" not in index_b._where and len(index_a) == 2)
        assert await b.erase("john", "acme") == ["q2", "q3"]
        await _until(lambda: len(index_a) == 0 and len(index_b) == 0)
        for answers, _ in workers:
            await answers.mirror.aclose()
            await answers.aclose()

    run(go())


def test_a_mirror_starting_late_loads_what_is_stored_and_skips_expired(prefix):
    async def go():
        clock = Clock()
        writer = SharedAnswers(REDIS, prefix, max_entries=10, ttl=60.0, clock=clock)
        writer.put("old", b"1", "chat", "t", "s", "p", embedded(vector(1)))
        await writer.flush()
        clock.now += 30
        writer.put("new", b"2", "chat", "t", "s", "p", embedded(vector(0, 1)))
        await writer.flush()
        clock.now += 40  # "old" expired, "new" has 20 s left
        reader = SharedAnswers(REDIS, prefix, max_entries=10, ttl=60.0, clock=clock)
        index = SemanticIndex(4)
        mirror = VectorMirror(reader, index, 4)
        await mirror.load()
        assert list(index._where) == ["new"]
        clock.now += 25
        mirror.sweep(clock.now)
        assert len(index) == 0
        await writer.aclose()
        await reader.aclose()

    run(go())


def test_an_erasure_the_shared_cache_cannot_reach_is_a_503_to_repeat_not_a_silent_success():
    from comox.cache.component import ResponseCache
    from comox.config import parse_config
    from comox.server.errors import GatewayError
    from tests.test_config import MINIMAL

    config = parse_config(
        MINIMAL + "cache: {enabled: true, redis: 'redis://127.0.0.1:1/0'}\n", "gw.yaml", env={}
    )

    async def go():
        cache = ResponseCache(config, router=None)
        with pytest.raises(GatewayError) as refused:
            await cache.erase("jane", "acme")
        assert refused.value.status == 503 and refused.value.code == "cache_unavailable"
        await cache.shared.aclose()

    run(go())
