"""The limits stage: requests and tokens per minute, and token budgets, per key and tenant.

Before routing, one `take()` checks every counter of the call and charges one request to
the request counters, all or nothing; token counters and budgets are only checked (refused
when nothing is left), then charged with the engine's reported usage in `settle()`. Which
counters apply is a pure function of key, tenant and time (`plan`).

If the counter backend fails (Redis down), calls are let through and counted in the stats:
an outage of the limiter must not become an outage of the gateway.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from comox.api.call import Call
from comox.observability.logs import Every
from comox.policy.auth import KeyTable
from comox.policy.budgets import iso, period_bounds, period_label
from comox.policy.keys import KeyRecord, Limits, Tenant
from comox.policy.limits import Counter, Counters, Outcome
from comox.server.errors import GatewayError

log = logging.getLogger("comox.limits")


@dataclass(frozen=True, slots=True)
class Planned:
    counter: Counter
    kind: str
    """requests | tokens | budget"""
    owner: str
    """Who the limit belongs to, as said to the client: "key key_1a2b" or "tenant 'acme'"."""
    period: str = ""


@dataclass(slots=True)
class LimiterStats:
    admitted: int = 0
    refused_requests: int = 0
    refused_tokens: int = 0
    refused_budget: int = 0
    backend_errors: int = 0
    tokens_charged: int = 0


def _owner_plan(scope: str, ident: str, owner: str, limits: Limits, now: float) -> list[Planned]:
    plan = []
    if limits.rpm:
        plan.append(Planned(Counter(f"rpm:{scope}:{ident}", limits.rpm, 1), "requests", owner))
    if limits.tpm:
        plan.append(Planned(Counter(f"tpm:{scope}:{ident}", limits.tpm, 0), "tokens", owner))
    if limits.token_budget:
        start, end = period_bounds(now, limits.budget_period)
        key = f"budget:{scope}:{ident}:{period_label(start, limits.budget_period)}"
        counter = Counter(key, limits.token_budget, 0, window=0.0, ends_at=end.timestamp())
        plan.append(Planned(counter, "budget", owner, limits.budget_period))
    return plan


def plan(key: KeyRecord, tenant: Tenant | None, now: float) -> list[Planned]:
    """Every counter that applies to a call by `key`, key first, then its tenant."""
    result = _owner_plan("k", key.id, f"key {key.id}", key.limits, now)
    if tenant is not None:
        result += _owner_plan("t", tenant.name, f"tenant '{tenant.name}'", tenant.limits, now)
    return result


def duration(seconds: float) -> str:
    """OpenAI's reset format: '1s', '6m0s', '250ms'."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 1)}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


_WHOLE_SECONDS = [duration(s).encode() for s in range(0, 3601)]


def _duration_bytes(seconds: float) -> bytes:
    whole = math.ceil(seconds)
    return _WHOLE_SECONDS[whole] if 1 <= whole <= 3600 and seconds >= 1 else duration(seconds).encode()


@dataclass(frozen=True, slots=True)
class Plan:
    """A key's counters, built once per key-table version and budget period (not per call)."""

    steps: tuple[Planned, ...]
    counters: tuple[Counter, ...]
    token_counters: tuple[Counter, ...]
    version: int
    valid_until: float
    """The earliest end of a budget period: the plan names period counters up to then."""
    headed: tuple[tuple[bytes, tuple[int, ...]], ...] = ()
    """Per kind with x-ratelimit-* headers (requests, tokens): the template of its three
    header lines and the indexes of its steps, so a call's headers need no grouping."""

    @classmethod
    def build(cls, key: KeyRecord, tenant: Tenant | None, version: int, now: float) -> Plan:
        steps = tuple(plan(key, tenant, now))
        ends = [s.counter.ends_at for s in steps if s.kind == "budget"]
        headed = tuple(
            (_HEADER_TEMPLATES[kind], indexes)
            for kind in ("requests", "tokens")
            if (indexes := tuple(i for i, s in enumerate(steps) if s.kind == kind))
        )
        return cls(
            steps,
            tuple(s.counter for s in steps),
            tuple(s.counter for s in steps if s.kind != "requests"),
            version,
            min(ends, default=math.inf),
            headed,
        )


def rate_headers(plan: Plan, outcome: Outcome) -> bytes:
    """x-ratelimit-* lines of the tightest request and token counters, as OpenAI sends them."""
    lines = b""
    steps, used, resets = plan.steps, outcome.used, outcome.resets
    for template, indexes in plan.headed:
        best, left = -1, 0
        for i in indexes:
            room = steps[i].counter.limit - used[i]
            if best < 0 or room < left:
                best, left = i, room
        lines += template % (
            steps[best].counter.limit,
            left if left > 0 else 0,
            _duration_bytes(resets[best]),
        )
    return lines


_HEADER_TEMPLATES = {
    kind: b"".join(
        b"x-ratelimit-%s-%s: %%%s\r\n" % (what, kind.encode(), form)
        for what, form in ((b"limit", b"d"), (b"remaining", b"d"), (b"reset", b"s"))
    )
    for kind in ("requests", "tokens")
}
"""Per kind, its three x-ratelimit-* header lines as one template: limit, remaining, reset."""


def refusal(step: Planned, retry: float, now: float) -> GatewayError:
    c = step.counter
    wait = max(math.ceil(retry), 1)
    headers = [(b"retry-after", str(wait).encode())]
    if step.kind == "budget":
        resets = iso(period_bounds(now, step.period)[1])
        message = (
            f"The {'daily' if step.period == 'day' else 'monthly'} token budget of {step.owner} "
            f"({c.limit} tokens) is used up; it resets at {resets}."
        )
        return GatewayError(429, message, code="budget_exceeded", headers=tuple(headers))
    name = step.kind.encode()
    headers += (
        (b"x-ratelimit-limit-" + name, str(c.limit).encode()),
        (b"x-ratelimit-remaining-" + name, b"0"),
        (b"x-ratelimit-reset-" + name, duration(retry).encode()),
    )
    message = f"Rate limit of {step.owner} reached: {c.limit} {step.kind} per minute. Retry in {wait} s."
    return GatewayError(429, message, code="rate_limit_exceeded", headers=tuple(headers))


class LimitStage:
    def __init__(self, counters: Counters, table: KeyTable, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self.table = table
        self.clock = clock
        self.stats = LimiterStats()
        self._plans: dict[str, Plan] = {}
        self._take_now = getattr(counters, "take_now", None)
        self._warn = Every(10.0)

    def plan_for(self, key: KeyRecord, now: float) -> Plan:
        cached = self._plans.get(key.id)
        if cached is not None and cached.version == self.table.version and now < cached.valid_until:
            return cached
        built = Plan.build(key, self.table.tenants.get(key.tenant), self.table.version, now)
        if len(self._plans) > 100_000:  # keys come and go: never let the cache grow without bound
            self._plans.clear()
        self._plans[key.id] = built
        return built

    def admit(self, call: Call) -> Awaitable[None] | None:
        key: KeyRecord | None = call.principal
        if key is None:
            return None  # open mode: nothing to count, and no coroutine to run
        if self._take_now is not None:  # counters in this process: no coroutine either
            now = self.clock()
            current = self.plan_for(key, now)
            if current.steps:
                self._apply(call, current, self._take_now(current.counters, now), now)
            return None
        return self._admit(call, key)

    async def _admit(self, call: Call, key: KeyRecord) -> None:
        now = self.clock()
        current = self.plan_for(key, now)
        if not current.steps:
            return
        try:
            outcome = await self.counters.take(current.counters, now)
        except Exception as exc:  # the limiter's outage must not become the gateway's
            self.stats.backend_errors += 1
            if self._warn():
                fields = {"error": str(exc), "failures_since_last": self._warn.take_skipped()}
                log.warning("rate-limit backend failed; letting calls through", extra={"fields": fields})
            return
        self._apply(call, current, outcome, now)

    def _apply(self, call: Call, current: Plan, outcome: Outcome, now: float) -> None:
        if not outcome.ok:
            step = current.steps[outcome.refused]
            setattr(self.stats, f"refused_{step.kind}", getattr(self.stats, f"refused_{step.kind}") + 1)
            raise refusal(step, outcome.resets[0], now)
        self.stats.admitted += 1
        call.response_headers += rate_headers(current, outcome)
        if current.token_counters:
            call.token_counters = current.token_counters
            call.want_usage = True

    def settle(self, call: Call) -> None:
        if not call.token_counters or not call.usage:
            return
        usage = call.usage
        total = usage.get("total_tokens")
        if not isinstance(total, int):
            total = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
        if total > 0:
            self.stats.tokens_charged += total
            self.counters.charge_soon(call.token_counters, total, self.clock())
