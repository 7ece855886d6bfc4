"""The response cache shared by every worker and replica through Redis.

Answers live in Redis only: one hash per entry (body, form, tenant, subject hash, times,
and once embedded its question's partition and vector), expiring with the TTL, plus a
sorted set by last use that bounds the count (least recently used go first) and a set
per subject hash for erasure. A lookup is one round trip; nothing is kept per worker, so
an erasure or an eviction made anywhere holds everywhere at once.

Semantic search stays in process: every worker mirrors the vectors in its own
`SemanticIndex`, loaded from the entries at start and kept current from a Redis stream
on which every add and removal is announced. A mirror that is behind can only cost a
miss or name an answer that is gone (then the lookup finds nothing and misses): it never
serves anything that Redis no longer holds. A worker that fell further behind than the
stream keeps (it is trimmed) reloads from the entries.

Keys are built from one prefix, so the scripts name keys they were not passed: this
needs a single Redis (or one cluster slot), not a sharded cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import redis.asyncio as redis

from comox.cache.exact import Entry, StoreStats
from comox.observability.logs import Every

if TYPE_CHECKING:
    from comox.cache.semantic import SemanticIndex

log = logging.getLogger("comox.cache")
STREAM_LENGTH = 100_000
"""Announcements kept on the stream (approximately): a worker further behind reloads."""
SWEEP_INTERVAL = 5.0
"""Seconds between drops of expired vectors from a mirror."""
MAX_PENDING_WRITES = 256
"""Stores in flight at once; past this a filled answer is dropped rather than queued."""

_PUT = """
local p, key, now, ttl, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local entry = p .. 'a:' .. key
redis.call('HSET', entry, 'b', ARGV[6], 'f', ARGV[7], 't', ARGV[8], 's', ARGV[9], 'c', ARGV[10],
  'e', ARGV[11])
redis.call('PEXPIRE', entry, ttl)
redis.call('ZADD', p .. 'lru', now, key)
local subject = p .. 's:' .. ARGV[9]
redis.call('SADD', subject, key)
redis.call('PEXPIRE', subject, ttl + 60000)
redis.call('ZREMRANGEBYSCORE', p .. 'lru', '-inf', now - ttl)
local over = redis.call('ZCARD', p .. 'lru') - max
local evicted = 0
if over > 0 then
  local old = redis.call('ZRANGE', p .. 'lru', 0, over - 1)
  for _, k in ipairs(old) do
    redis.call('DEL', p .. 'a:' .. k)
    redis.call('ZREM', p .. 'lru', k)
  end
  redis.call('XADD', p .. 'events', 'MAXLEN', '~', ARGV[13], '*', 'op', 'del', 'r', ARGV[12],
    'k', table.concat(old, ' '))
  evicted = #old
end
return {evicted, redis.call('ZCARD', p .. 'lru')}
"""

_VECTOR = """
local p, key = ARGV[1], ARGV[2]
local entry = p .. 'a:' .. key
if redis.call('EXISTS', entry) == 0 then return 0 end
redis.call('HSET', entry, 'p', ARGV[3], 'v', ARGV[4])
redis.call('XADD', p .. 'events', 'MAXLEN', '~', ARGV[7], '*', 'op', 'add', 'r', ARGV[5], 'k', key,
  'p', ARGV[3], 'v', ARGV[4], 'e', ARGV[6])
return 1
"""

_ERASE = """
local p, subject, tenant, replica = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local set = p .. 's:' .. subject
local gone = {}
for _, k in ipairs(redis.call('SMEMBERS', set)) do
  local entry = p .. 'a:' .. k
  local owner = redis.call('HGET', entry, 't')
  if tenant == '' or owner == tenant or not owner then
    if owner then gone[#gone + 1] = k end
    redis.call('DEL', entry)
    redis.call('ZREM', p .. 'lru', k)
    redis.call('SREM', set, k)
  end
end
if #gone > 0 then
  redis.call('XADD', p .. 'events', 'MAXLEN', '~', ARGV[5], '*', 'op', 'del', 'r', replica,
    'k', table.concat(gone, ' '))
end
return gone
"""


class SharedAnswers:
    """The answer store of the cache, in Redis; the stage awaits `get`, `put` returns at once."""

    shared = True

    def __init__(
        self,
        url: str,
        prefix: str,
        max_entries: int,
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self.replica = secrets.token_hex(6)
        """Tags this worker's announcements, which its own mirror already applied."""
        self.stats = StoreStats()
        self.errors = 0
        """Redis calls that failed (the call then missed, or its answer was not stored)."""
        self.count = 0
        """Entries in Redis as of this worker's last store."""
        self._put = self.client.register_script(_PUT)
        self._vector = self.client.register_script(_VECTOR)
        self._erase = self.client.register_script(_ERASE)
        self._pending: set[asyncio.Task] = set()
        self._warn = Every(10.0)
        self.mirror: VectorMirror | None = None
        """This worker's copy of the vectors, when semantic lookup is on."""

    def __len__(self) -> int:
        return self.count

    def failed(self, what: str, exc: Exception) -> None:
        """Count a Redis failure (the caller carries on without the cache) and log it, at most
        every ten seconds."""
        self.errors += 1
        if self._warn():  # an outage must not flood the log
            fields = {"during": what, "error": str(exc), "failures_since_last": self._warn.take_skipped()}
            log.warning("shared cache unavailable", extra={"fields": fields})

    async def get(self, key: str) -> Entry | None:
        """The entry under `key`, marked as just used; None when absent or Redis fails."""
        now = self.clock()
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(self.prefix + "a:" + key, "b", "f", "t", "s", "c", "e")
                pipe.zadd(self.prefix + "lru", {key: now * 1000}, xx=True)
                (body, form, tenant, subject, created, expires), _ = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self.failed("lookup", exc)
            return None
        if body is None or form is None or expires is None or float(expires) <= now:
            return None
        return Entry(body, form.decode(), tenant.decode(), subject.decode(), float(created), float(expires))

    def put(
        self,
        key: str,
        body: bytes,
        form: str,
        tenant: str,
        subject: str,
        partition: str | None = None,
        vector: Awaitable | None = None,
    ) -> bool:
        """Store in the background, then attach the question's `vector` once it is embedded
        (it may still be computing); False when too many stores are already in flight."""
        if len(self._pending) >= MAX_PENDING_WRITES:
            return False
        now = self.clock()
        args = (
            self.prefix, key, int(now * 1000), int(self.ttl * 1000), self.max_entries,
            body, form, tenant, subject, repr(now), repr(now + self.ttl), self.replica, STREAM_LENGTH,
        )  # fmt: skip
        self._spawn(self._store(args, partition, vector, now + self.ttl))
        return True

    async def _store(
        self, args: tuple, partition: str | None, vector: Awaitable | None, expires: float
    ) -> None:
        try:
            evicted, self.count = await self._put(args=args)
        except (redis.RedisError, OSError) as exc:
            self.failed("store", exc)
            return
        self.stats.stores += 1
        self.stats.evictions += evicted
        if vector is None or partition is None:
            return
        try:
            value = await vector
        except Exception:  # the stage counted and logged the failed embedding
            return
        key = args[1]
        if self.mirror is not None:  # here at once; other workers from the announcement
            self.mirror.add(partition, key, value, expires)
        data = value.astype("float32").tobytes()
        try:
            await self._vector(
                args=(self.prefix, key, partition, data, self.replica, repr(expires), STREAM_LENGTH)
            )
        except (redis.RedisError, OSError) as exc:
            self.failed("store vector", exc)

    def _spawn(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def erase(self, subject: str, tenant: str | None) -> list[str]:
        """Drop the subject's answers (in one tenant, or all) everywhere; returns their keys,
        sorted (Redis hands a set's members in no fixed order). Unlike a lookup this raises when
        Redis fails: an erasure must not pass for done."""
        gone = await self._erase(args=(self.prefix, subject, tenant or "", self.replica, STREAM_LENGTH))
        keys = sorted(k.decode() for k in gone)
        self.stats.erased += len(keys)
        return keys

    async def flush(self) -> None:
        """Wait for the stores in flight (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()
        await self.client.aclose()


async def erase_everywhere(cache_config, subject: str, tenant: str | None) -> int:
    """From another process (the CLI): erase a subject's answers in the shared cache."""
    from comox.cache.key import subject_hash

    answers = SharedAnswers(
        cache_config.redis, cache_config.redis_prefix, cache_config.max_entries, cache_config.ttl
    )
    try:
        return len(await answers.erase(subject_hash(subject), tenant))
    finally:
        await answers.aclose()


class VectorMirror:
    """Keeps a worker's `SemanticIndex` equal to the vectors in Redis (see the module doc)."""

    def __init__(self, answers: SharedAnswers, index: SemanticIndex, dim: int) -> None:
        self.answers = answers
        self.index = index
        self.dim = dim
        self.expires: dict[str, float] = {}
        self.last_id = b"0-0"
        self.reloads = 0
        self._task: asyncio.Task | None = None

    def add(self, partition: str, key: str, vector, expires: float) -> None:
        import numpy as np

        vector = np.frombuffer(vector, dtype=np.float32) if isinstance(vector, bytes) else vector
        if self.dim and len(vector) != self.dim:
            return  # another embedder's vector
        self.index.add(partition, key, vector)
        self.expires[key] = expires

    def forget(self, key: str) -> None:
        self.index.forget(key)
        self.expires.pop(key, None)

    def sweep(self, now: float) -> None:
        for key in [k for k, at in self.expires.items() if at <= now]:
            self.forget(key)

    async def load(self) -> None:
        """Every stored vector; the stream is read from the point this load started."""
        client, prefix = self.answers.client, self.answers.prefix
        newest = await client.xrevrange(prefix + "events", count=1)
        self.last_id = newest[0][0] if newest else b"0-0"
        for key in list(self.expires):
            self.forget(key)
        now = self.answers.clock()
        async for name in client.scan_iter(match=prefix + "a:*", count=1000):
            partition, vector, expires = await client.hmget(name, "p", "v", "e")
            if partition is None or vector is None or expires is None or float(expires) <= now:
                continue
            self.add(partition.decode(), name.decode()[len(prefix) + 2 :], vector, float(expires))
        self.reloads += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        client, stream = self.answers.client, self.answers.prefix + "events"
        loaded, swept = False, 0.0
        while True:
            try:
                if not loaded:
                    await self.load()
                    loaded = True
                now = self.answers.clock()
                if now - swept >= SWEEP_INTERVAL:
                    self.sweep(now)
                    swept = now
                reply = await client.xread({stream: self.last_id}, count=1000, block=1000)
                if not reply:
                    continue
                if self.last_id != b"0-0":  # were announcements trimmed before we read them?
                    oldest = await client.xrange(stream, count=1)
                    if oldest and _id(oldest[0][0]) > _id(self.last_id):
                        loaded = False
                        continue
                for event_id, fields in reply[0][1]:
                    self.last_id = event_id
                    self._apply(fields)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep what we have, reload once it is back
                self.answers.failed("follow", exc)
                loaded = False
                await asyncio.sleep(1.0)

    def _apply(self, fields: dict[bytes, bytes]) -> None:
        op = fields.get(b"op")
        if op == b"add":
            if fields.get(b"r", b"").decode() != self.answers.replica:  # ours is applied already
                self.add(fields[b"p"].decode(), fields[b"k"].decode(), fields[b"v"], float(fields[b"e"]))
        elif op == b"del":  # evictions and erasures, ours included (the stage does not see evictions)
            for key in fields.get(b"k", b"").decode().split():
                self.forget(key)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _id(stream_id: bytes) -> tuple[int, int]:
    ms, _, seq = stream_id.partition(b"-")
    return int(ms), int(seq or 0)
