"""Usage accounting: calls add up in memory, flush in one batch, and survive a failing store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from comox.api.call import Call
from comox.policy.keys import KeyRecord
from comox.policy.usage import UsageRecorder
from comox.server.request import Request
from comox.stores.base import UsageRow

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp()
KEY = KeyRecord(id="key_1", tenant="acme", hash="h", created_at=0.0)


class FakeStore:
    def __init__(self) -> None:
        self.rows: list[UsageRow] = []
        self.fail = False

    async def add_usage(self, rows: list[UsageRow]) -> None:
        if self.fail:
            raise ConnectionError("store down")
        self.rows += rows


def done(status: int, usage: dict | None, principal=KEY) -> Call:
    req = Request(b"POST", b"/v1/chat/completions", b"", {}, b"", "")
    call = Call(req, "chat", {}, "m", False, principal)
    call.status, call.usage, call.backend = status, usage, "gpu-a"
    return call


def test_calls_add_up_per_day_key_model_backend_and_flush_once() -> None:
    store = FakeStore()
    recorder = UsageRecorder(store, clock=lambda: NOW)
    recorder.settle(done(200, {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}))
    recorder.settle(done(200, {"prompt_tokens": 1, "completion_tokens": 1}))
    recorder.settle(done(502, None))
    recorder.settle(done(200, {"total_tokens": 9}, principal=None))  # open mode: not recorded
    asyncio.run(recorder.flush())
    assert store.rows == [UsageRow("2024-06-01", "acme", "key_1", "m", "gpu-a", 3, 1, 4, 3, 7)]


def test_a_failing_store_keeps_rows_for_the_next_flush_and_the_buffer_is_bounded() -> None:
    store = FakeStore()
    store.fail = True
    recorder = UsageRecorder(store, max_pending=1, clock=lambda: NOW)
    recorder.settle(done(200, {"total_tokens": 5}))
    asyncio.run(recorder.flush())
    other = done(200, {"total_tokens": 5})
    other.backend = "gpu-b"
    recorder.settle(other)  # a second distinct row does not fit: dropped and counted
    assert recorder.stats.flush_errors == 1 and recorder.stats.dropped_calls == 1
    store.fail = False
    asyncio.run(recorder.flush())
    assert [(r.backend, r.total_tokens) for r in store.rows] == [("gpu-a", 5)]
