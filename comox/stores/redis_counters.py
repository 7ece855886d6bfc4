"""Rate-limit and budget counters in Redis, shared by every worker and replica.

One Lua script checks and charges all of a call's counters atomically, so N gateways
together admit exactly what one would. It runs the steps of `comox.policy.limits.decide`:
a window counter is a hash slot -> uses (dead slots deleted as they are met), a period
total a plain integer that expires a day after its period. The clock is the gateway's
(passed in), so replicas need synchronised clocks (NTP); slots are a second wide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import hiredis

from comox.observability.logs import Every
from comox.policy.limits import SLOTS, Counter, Outcome, retry_after
from comox.stores.resp import RedisConnection, ReplyError, encode

log = logging.getLogger("comox.limits")

_SCRIPT = """
local now, mode, amount, nslots = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local function slot(s) return string.format('%.0f', s) end
-- A window is a hash: slot -> uses, plus 'h' (the newest slot seen) and 't' (the total in the
-- window). Moving the window subtracts only the slots that left it, so a check costs O(1).
local function advance(key, cur)
  local v = redis.call('HMGET', key, 'h', 't')
  local head, total = tonumber(v[1]), tonumber(v[2]) or 0
  if head == nil then return 0 end
  if cur > head then
    if cur - head >= nslots then
      redis.call('DEL', key)
      return 0
    end
    for s = head - nslots + 1, cur - nslots do
      local c = tonumber(redis.call('HGET', key, slot(s)) or '0')
      if c ~= 0 then
        total = total - c
        redis.call('HDEL', key, slot(s))
      end
    end
    redis.call('HSET', key, 'h', slot(cur), 't', total)
  end
  return total
end
local used, cur = {}, {}
for i = 1, #KEYS do
  local b = 4 + (i - 1) * 4
  local window = tonumber(ARGV[b + 3])
  if window > 0 then
    cur[i] = math.floor(now / (window / nslots))
    used[i] = advance(KEYS[i], cur[i])
  else
    used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
end
if mode == 'take' then
  for i = 1, #KEYS do
    local b = 4 + (i - 1) * 4
    local limit, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local ok
    if cost > 0 then ok = used[i] + cost <= limit else ok = used[i] < limit end
    if not ok then
      local r = {i - 1, used[i]}
      if cur[i] ~= nil then  -- the live slots, for the time until this call fits (rare: refusals)
        local flat = redis.call('HGETALL', KEYS[i])
        for j = 1, #flat, 2 do
          if flat[j] ~= 'h' and flat[j] ~= 't' then
            r[#r + 1] = tonumber(flat[j])
            r[#r + 1] = tonumber(flat[j + 1])
          end
        end
      end
      return r
    end
  end
end
local result = {-1}
for i = 1, #KEYS do
  local b = 4 + (i - 1) * 4
  local window, add = tonumber(ARGV[b + 3]), amount
  if mode == 'take' then add = tonumber(ARGV[b + 2]) end
  if add > 0 then
    if window > 0 then
      redis.call('HINCRBY', KEYS[i], slot(cur[i]), add)
      redis.call('HINCRBY', KEYS[i], 't', add)
      redis.call('HSETNX', KEYS[i], 'h', slot(cur[i]))
      redis.call('EXPIRE', KEYS[i], math.ceil(window) + 2)
    else
      redis.call('INCRBY', KEYS[i], add)
      redis.call('EXPIREAT', KEYS[i], math.ceil(tonumber(ARGV[b + 4])) + 86400)
    end
    used[i] = used[i] + add
  end
  result[#result + 1] = used[i]
end
return result
"""
WINDOW_FORMAT = "w2:"
"""Prefix of window keys in the format above (head and total kept): keys of the older format
(slots only) are left alone and expire within a minute of their last use."""


class ScriptBatcher:
    """Runs the counters script for many calls in one Redis round trip.

    Calls that arrive while a batch is in flight queue up and go together in the next one,
    as a group commit does: at low load a call waits for one round trip, under load hundreds
    share it. The round trip, not Redis, is what a per-call client pays for most.
    """

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._sha: bytes | None = None
        self._queue: list[tuple[bytes, asyncio.Future]] = []
        """Each call's arguments after the script's sha, encoded, and its future."""
        self._running = False
        self.round_trips = 0

    def run(self, keys: list[str], args: list) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        tail = encode(len(keys), *keys, *args)  # the command minus "EVALSHA sha": fixed later
        self._queue.append((tail, future))
        if not self._running:
            self._running = True
            task = asyncio.get_running_loop().create_task(self._drain())
            task.add_done_callback(_log_crash)
        return future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._execute([tail for tail, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, hiredis.ReplyError):
                        future.set_exception(ReplyError(str(result)))
                    else:
                        future.set_result(result)
        finally:
            self._running = False

    async def _execute(self, tails: list[bytes]) -> list:
        for attempt in (1, 2):
            if self._sha is None:
                self._sha = await self._connection.call("SCRIPT", "LOAD", _SCRIPT)
            prefix = b"$7\r\nEVALSHA\r\n$%d\r\n%s\r\n" % (len(self._sha), self._sha)
            self.round_trips += 1
            results = await self._connection.execute([_evalsha(prefix, tail) for tail in tails])
            if attempt == 1 and any(
                isinstance(r, hiredis.ReplyError) and str(r).startswith("NOSCRIPT") for r in results
            ):
                self._sha = None  # Redis restarted or flushed its scripts: load again, once
                continue
            return results
        return results


def _evalsha(prefix: bytes, tail: bytes) -> bytes:
    """EVALSHA and its sha (`prefix`) in front of an encoded argument array: `*N` becomes `*N+2`."""
    count_end = tail.index(b"\r\n")
    return b"*%d\r\n" % (int(tail[1:count_end]) + 2) + prefix + tail[count_end + 2 :]


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("rate-limit batch failed", extra={"fields": {"error": str(task.exception())}})


class RedisCounters:
    def __init__(self, connection: RedisConnection, prefix: str = "comox:") -> None:
        self._connection = connection
        self._prefix = prefix
        self._batcher = ScriptBatcher(connection)
        self._pending: set[asyncio.Future] = set()
        self._warn = Every(10.0)

    @classmethod
    def from_url(cls, url: str, prefix: str = "comox:") -> RedisCounters:
        return cls(RedisConnection(url), prefix)

    def _submit(self, counters: Sequence[Counter], now: float, mode: str, amount: int) -> asyncio.Future:
        args: list = [repr(now), mode, amount, SLOTS]
        for c in counters:
            args += (c.limit, c.cost, repr(float(c.window)), repr(float(c.ends_at)))
        keys = [self._prefix + (WINDOW_FORMAT + c.key if c.window > 0 else c.key) for c in counters]
        return self._batcher.run(keys, args)

    async def take(self, counters: Sequence[Counter], now: float) -> Outcome:
        if not counters:
            return Outcome()
        raw = await self._submit(counters, now, "take", 0)
        if raw[0] >= 0:
            index, used = int(raw[0]), int(raw[1])
            slots = {int(raw[j]): int(raw[j + 1]) for j in range(2, len(raw), 2)}
            return Outcome(index, [used], [retry_after(slots, counters[index], now, used)])
        return _outcome(counters, raw, now)

    async def add(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        if counters and amount > 0:
            await self._submit(counters, now, "add", amount)

    def charge_soon(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        """Queued into the next batch, with no task of its own: one per call would cost more
        than the charge."""
        if counters and amount > 0:
            charged = self._submit(counters, now, "add", amount)
            self._pending.add(charged)
            charged.add_done_callback(self._charged)

    def _charged(self, future: asyncio.Future) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None and self._warn():
            fields = {"error": str(future.exception()), "failures_since_last": self._warn.take_skipped()}
            log.warning("could not charge tokens in Redis", extra={"fields": fields})

    async def seed(self, counter: Counter, used: int) -> None:
        await self._connection.call(
            "SET", self._prefix + counter.key, used, "NX", "EXAT", int(counter.ends_at) + 86400
        )

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=2.0)
        await self._connection.aclose()


def _outcome(counters: Sequence[Counter], raw: list[int], now: float) -> Outcome:
    outcome = Outcome()
    for i, c in enumerate(counters):
        used = int(raw[1 + i])
        reset = (
            (int(now // (c.window / SLOTS)) + SLOTS) * c.window / SLOTS - now
            if c.window > 0
            else c.ends_at - now
        )
        outcome.used.append(used)
        outcome.resets.append(max(reset, 0.0))
    return outcome
