"""The limits stage: requests and tokens per minute, and token budgets, per key and tenant.

Before routing, one `take()` checks every counter of the call and charges one request to
the request counters, all or nothing; token counters and budgets are only checked (refused
when nothing is left), then charged with the engine's reported usage in `settle()`. Which
counters apply is a pure function of key, tenant and time (`plan`).

If the counter backend fails (Redis down), calls are let through and counted in the stats:
an outage of the limiter must not become an outage of the gateway.
"""

from __future__ import annotations

import functools
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
from comox.policy.limits import SLOTS, Counter, Counters, MemoryCounters, Outcome, Tally
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
    refused_requests: int = 0
    refused_tokens: int = 0
    refused_budget: int = 0
    backend_errors: int = 0


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
    tally: Tally | None = None
    """With counters in this process: the counters bound to their cells, reporting the room
    left in each headed counter, in `headed`'s order."""
    lines: bytes | None = None
    """With `tally`, when each headed kind has one counter: every x-ratelimit-* line with
    limits and resets written in, the rooms the tally reports left to fill."""
    charge_tokens: Callable[[int, float], None] | None = None
    """Charges a call's tokens (amount, now) to `token_counters`; None when there are none."""

    @classmethod
    def build(
        cls, key: KeyRecord, tenant: Tenant | None, version: int, now: float, counters: Counters
    ) -> Plan:
        steps = tuple(plan(key, tenant, now))
        ends = [s.counter.ends_at for s in steps if s.kind == "budget"]
        headed = tuple(
            (_HEADER_TEMPLATES[kind], indexes)
            for kind in ("requests", "tokens")
            if (indexes := tuple(i for i, s in enumerate(steps) if s.kind == kind))
        )
        all_counters = tuple(s.counter for s in steps)
        token_counters = tuple(s.counter for s in steps if s.kind != "requests")
        charge_tokens = None
        if token_counters:
            charge_tokens = functools.partial(counters.charge_soon, token_counters)
        tally, lines = None, None
        fixed = all(_window_reset(steps[i].counter) for _, indexes in headed for i in indexes)
        if isinstance(counters, MemoryCounters) and steps and fixed:
            tally = counters.bind(all_counters, [i for _, indexes in headed for i in indexes])
            token_tally = counters.bind(token_counters) if token_counters else None
            if token_tally is not None:
                charge_tokens = token_tally.charge
            if all(len(indexes) == 1 for _, indexes in headed):
                lines = b"".join(_fixed_lines(template, steps[i].counter) for template, (i,) in headed)
        return cls(
            steps,
            all_counters,
            token_counters,
            version,
            min(ends, default=math.inf),
            headed,
            tally,
            lines,
            charge_tokens,
        )

    def rendered(self, rooms: tuple[int, ...]) -> bytes:
        """The x-ratelimit-* lines of the tightest counters, from the rooms `tally` reported."""
        if self.lines is not None:
            return self.lines % rooms
        lines, at, steps = b"", 0, self.steps
        for template, indexes in self.headed:
            best, left = -1, 0
            for i in indexes:
                if best < 0 or rooms[at] < left:
                    best, left = i, rooms[at]
                at += 1
            counter = steps[best].counter
            lines += template % (counter.limit, left if left > 0 else 0, _window_reset(counter))
        return lines


def _window_reset(counter: Counter) -> bytes:
    """x-ratelimit-reset-* of a window counter just used in memory, or b"" if not fixed.

    The newest use leaves the window in (window - slot, window] seconds: rounded up, that is
    `window` itself for windows of whole seconds up to a minute (a plan's are a minute), so
    it needs no computing per call. (After the clock steps back, the exact figure is up to
    the step longer; the header then says the window's length.)"""
    if counter.window == int(counter.window) and 1 <= counter.window <= SLOTS:
        return _duration_bytes(counter.window)
    return b""


def _fixed_lines(template: bytes, counter: Counter) -> bytes:
    """One kind's template with its limit and reset written in: only the room is left open."""
    return template.replace(b"%d", b"%d" % counter.limit, 1).replace(b"%s", _window_reset(counter), 1)


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
        self._warn = Every(10.0)

    def plan_for(self, key: KeyRecord, now: float) -> Plan:
        """The key's plan, from the cache while the key table and the budget periods hold."""
        cached = self._plans.get(key.id)
        if cached is not None and cached.version == self.table.version and now < cached.valid_until:
            return cached
        return self._build(key, now)

    def _build(self, key: KeyRecord, now: float) -> Plan:
        table = self.table
        built = Plan.build(key, table.tenants.get(key.tenant), table.version, now, self.counters)
        if len(self._plans) > 100_000:  # keys come and go: never let the cache grow without bound
            self._plans.clear()
        self._plans[key.id] = built
        return built

    def admit(self, call: Call) -> Awaitable[None] | None:
        key: KeyRecord | None = call.principal
        if key is None:
            return None  # open mode: nothing to count, and no coroutine to run
        now = self.clock()
        current = self._plans.get(key.id)  # `plan_for`, inline: this runs per call
        if current is None or current.version != self.table.version or now >= current.valid_until:
            current = self._build(key, now)
        tally = current.tally
        if tally is None:
            return self._admit(call, current, now) if current.steps else None
        rooms = tally.take(now)  # counters in this process: no coroutine, no Outcome
        if rooms is None:
            self._apply(call, current, self.counters.take_now(current.counters, now), now)  # type: ignore[attr-defined]
            return None  # (not reached: the same counters refuse again and `_apply` raises)
        lines = current.lines
        call.response_headers += lines % rooms if lines is not None else current.rendered(rooms)
        if current.charge_tokens is not None:
            call.charge_tokens = current.charge_tokens
            call.want_usage = True
        return None

    async def _admit(self, call: Call, current: Plan, now: float) -> None:
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
        call.response_headers += rate_headers(current, outcome)
        if current.charge_tokens is not None:
            call.charge_tokens = current.charge_tokens
            call.want_usage = True

    def settle(self, call: Call) -> None:
        charge = call.charge_tokens
        if charge is None or not call.usage:
            return
        usage = call.usage
        total = usage.get("total_tokens")
        if not isinstance(total, int):
            total = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
        if total > 0:
            charge(total, self.clock())
