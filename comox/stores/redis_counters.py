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

import redis.asyncio as redis

from comox.policy.limits import SLOTS, Counter, Outcome, retry_after

log = logging.getLogger("comox.limits")

_SCRIPT = """
local now, mode, amount, nslots = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local used, live = {}, {}
for i = 1, #KEYS do
  local b = 4 + (i - 1) * 4
  local window = tonumber(ARGV[b + 3])
  if window > 0 then
    local cur = math.floor(now / (window / nslots))
    local flat = redis.call('HGETALL', KEYS[i])
    local total, slots = 0, {}
    for j = 1, #flat, 2 do
      local s = tonumber(flat[j])
      if s <= cur - nslots then
        redis.call('HDEL', KEYS[i], flat[j])
      else
        local c = tonumber(flat[j + 1])
        total = total + c
        slots[#slots + 1] = s
        slots[#slots + 1] = c
      end
    end
    used[i], live[i] = total, slots
  else
    used[i], live[i] = tonumber(redis.call('GET', KEYS[i]) or '0'), {}
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
      for _, v in ipairs(live[i]) do r[#r + 1] = v end
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
      local cur = math.floor(now / (window / nslots))
      redis.call('HINCRBY', KEYS[i], string.format('%.0f', cur), add)
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


class RedisCounters:
    def __init__(self, client: redis.Redis, prefix: str = "comox:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)
        self._pending: set[asyncio.Task] = set()

    @classmethod
    def from_url(cls, url: str, prefix: str = "comox:") -> RedisCounters:
        return cls(redis.from_url(url), prefix)

    async def _run(self, counters: Sequence[Counter], now: float, mode: str, amount: int) -> list[int]:
        args: list = [repr(now), mode, amount, SLOTS]
        for c in counters:
            args += (c.limit, c.cost, repr(float(c.window)), repr(float(c.ends_at)))
        return await self._script(keys=[self._prefix + c.key for c in counters], args=args)

    async def take(self, counters: Sequence[Counter], now: float) -> Outcome:
        if not counters:
            return Outcome()
        raw = await self._run(counters, now, "take", 0)
        if raw[0] >= 0:
            index, used = int(raw[0]), int(raw[1])
            slots = {int(raw[j]): int(raw[j + 1]) for j in range(2, len(raw), 2)}
            return Outcome(index, [used], [retry_after(slots, counters[index], now, used)])
        return _outcome(counters, raw, now)

    async def add(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        if counters and amount > 0:
            await self._run(counters, now, "add", amount)

    def charge_soon(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        if counters and amount > 0:
            task = asyncio.get_running_loop().create_task(self._add_logged(counters, amount, now))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _add_logged(self, counters: Sequence[Counter], amount: int, now: float) -> None:
        try:
            await self.add(counters, amount, now)
        except Exception as exc:
            log.warning("could not charge tokens in Redis", extra={"fields": {"error": str(exc)}})

    async def seed(self, counter: Counter, used: int) -> None:
        await self._client.set(self._prefix + counter.key, used, nx=True, exat=int(counter.ends_at) + 86400)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=2.0)
        await self._client.aclose()


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
