"""The limits stage: which counters apply, the OpenAI-style headers, and the 429s."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from comox.api.call import Call
from comox.policy.access import AccessStage
from comox.policy.auth import KeyTable
from comox.policy.keys import KeyRecord, Limits, Tenant
from comox.policy.limiter import LimitStage, duration, plan
from comox.policy.limits import MemoryCounters
from comox.server.errors import GatewayError
from comox.server.request import Request

NOW = datetime(2024, 6, 30, 23, 59, 0, tzinfo=UTC).timestamp()


def key(**limits) -> KeyRecord:
    return KeyRecord(id="key_1", tenant="acme", hash="h", created_at=0.0, limits=Limits(**limits))


def call_for(record: KeyRecord, payload: dict | None = None) -> Call:
    payload = payload or {"model": "m", "messages": []}
    req = Request(b"POST", b"/v1/chat/completions", b"", {}, b"", "")
    return Call(req, "chat", payload, payload["model"], False, record)


def stage(tenant: Tenant | None = None, counters=None) -> LimitStage:
    table = KeyTable()
    table.replace([], [tenant] if tenant else [], 1)
    return LimitStage(counters or MemoryCounters(), table, clock=lambda: NOW)


def admit(s: LimitStage, call: Call) -> None:
    """As the service runs a stage: await what `admit` returns, if anything."""
    waiting = s.admit(call)
    if waiting is not None:
        asyncio.run(waiting)


class RemoteCounters:
    """Counters reached only through coroutines, as the Redis backend is."""

    def __init__(self) -> None:
        self.inner = MemoryCounters()

    async def take(self, counters, now):
        return self.inner.take_now(counters, now)

    def charge_soon(self, counters, amount, now) -> None:
        self.inner.charge_soon(counters, amount, now)


def test_plan_lists_key_then_tenant_counters_with_the_budget_period() -> None:
    tenant = Tenant("acme", 0.0, Limits(rpm=100, token_budget=10, budget_period="day"))
    steps = plan(key(rpm=5, tpm=50), tenant, NOW)
    assert [(s.kind, s.counter.key) for s in steps] == [
        ("requests", "rpm:k:key_1"),
        ("tokens", "tpm:k:key_1"),
        ("requests", "rpm:t:acme"),
        ("budget", "budget:t:acme:2024-06-30"),
    ]
    assert plan(key(), None, NOW) == []


@pytest.mark.parametrize("counters", [MemoryCounters, RemoteCounters])
def test_admitted_calls_carry_the_tightest_limits_as_headers(counters) -> None:
    s = stage(Tenant("acme", 0.0, Limits(rpm=2)), counters())
    call = call_for(key(rpm=5, tpm=100))
    waiting = s.admit(call)
    assert (waiting is None) == (counters is MemoryCounters)  # in-process counters: no coroutine
    if waiting is not None:
        asyncio.run(waiting)
    headers = dict(line.split(b": ", 1) for line in call.response_headers.splitlines())
    assert headers[b"x-ratelimit-limit-requests"] == b"2"
    assert headers[b"x-ratelimit-remaining-requests"] == b"1"
    assert headers[b"x-ratelimit-remaining-tokens"] == b"100"
    assert call.want_usage and call.charge_tokens is not None
    assert len(s.plan_for(call.principal, NOW).token_counters) == 1


def test_tokens_reported_by_the_engine_use_up_the_token_limit() -> None:
    s = stage()
    call = call_for(key(tpm=100))
    admit(s, call)
    call.usage = {"prompt_tokens": 60, "completion_tokens": 40, "total_tokens": 100}
    s.settle(call)
    with pytest.raises(GatewayError) as info:
        admit(s, call_for(key(tpm=100)))
    err = info.value
    assert err.status == 429 and err.code == "rate_limit_exceeded"
    assert "key key_1" in err.message and "100 tokens per minute" in err.message
    assert dict(err.headers)[b"retry-after"] == b"60"


def test_exhausted_budget_says_which_budget_and_when_it_resets() -> None:
    s = stage(Tenant("acme", 0.0, Limits(token_budget=10)))
    call = call_for(key())
    admit(s, call)
    call.usage = {"total_tokens": 10}
    s.settle(call)
    with pytest.raises(GatewayError) as info:
        admit(s, call_for(key()))
    err = info.value
    assert err.code == "budget_exceeded"
    assert "monthly token budget of tenant 'acme'" in err.message
    assert "2024-07-01T00:00:00Z" in err.message
    assert dict(err.headers)[b"retry-after"] == b"60"


def test_durations_in_openai_format() -> None:
    assert [duration(x) for x in (0.25, 1, 59.2, 360)] == ["250ms", "1s", "1m0s", "6m0s"]


def test_access_refuses_other_models_and_caps_max_tokens() -> None:
    access = AccessStage()
    limited = KeyRecord(id="key_1", tenant="a", hash="h", created_at=0.0, models=("llama-*",), max_tokens=64)
    with pytest.raises(GatewayError) as info:
        access.admit(call_for(limited, {"model": "gpt-4o", "messages": []}))
    assert info.value.status == 403 and info.value.param == "model"
    with pytest.raises(GatewayError) as info:
        access.admit(call_for(limited, {"model": "llama-3", "messages": [], "max_tokens": 65}))
    assert info.value.status == 400 and info.value.param == "max_tokens"
    call = call_for(limited, {"model": "llama-3", "messages": []})
    access.admit(call)
    assert call.payload["max_tokens"] == 64 and call.payload_changed


class DownCounters:
    """A counters backend whose every call fails, as Redis does during an outage."""

    async def take(self, counters, now):
        raise ConnectionError("redis is down")


def test_a_limiter_outage_lets_calls_through_and_warns_once_not_per_call(caplog):
    s = stage(counters=DownCounters())
    with caplog.at_level("WARNING", logger="comox.limits"):
        for _ in range(100):
            admit(s, call_for(key(rpm=5)))
    assert s.stats.backend_errors == 100
    warnings = [r for r in caplog.records if r.name == "comox.limits"]
    assert len(warnings) == 1 and warnings[0].fields["failures_since_last"] == 0
