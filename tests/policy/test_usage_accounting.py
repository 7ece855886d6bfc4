"""Usage accounting: calls add up in memory, flush in one batch, and survive a failing store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from comox.api.call import Call
from comox.policy.keys import KeyRecord
from comox.policy.usage import FOLD, UsageRecorder, tokens_of
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


def test_usage_objects_of_any_shape_add_up_as_tokens_of_reads_them() -> None:
    store = FakeStore()
    recorder = UsageRecorder(store, clock=lambda: NOW)
    usages = [
        {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        {"prompt_tokens": 1, "completion_tokens": 1},  # no total: prompt + completion
        {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 0},  # a zero total: the same
        {"prompt_tokens": 1.9, "completion_tokens": None, "total_tokens": "4"},  # as int() reads them
        {},
        None,
        {"prompt_tokens": "many"},  # unreadable: the call counts, its tokens do not
        ["not", "a", "usage"],
    ]
    expected = [0, 0, 0, 0, 0]
    for i in range(FOLD * 2 + 1):  # across folds, and a flush of what is left
        for usage in usages[: 1 + i % len(usages)]:
            recorder.settle(done(200, usage))
            expected[0] += 1
            if isinstance(usage, dict) and usage.get("prompt_tokens") != "many":
                for j, n in enumerate(tokens_of(usage)):
                    expected[2 + j] += n
    asyncio.run(recorder.flush())
    assert store.rows == [UsageRow("2024-06-01", "acme", "key_1", "m", "gpu-a", *expected)]


class SlowStore(FakeStore):
    """A store whose writes take a while, to stop the recorder in the middle of one."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()

    async def add_usage(self, rows: list[UsageRow]) -> None:
        self.writing.set()
        await asyncio.sleep(0.05)
        await super().add_usage(rows)


def test_a_clean_shutdown_during_a_flush_loses_no_usage() -> None:
    async def run() -> None:
        store = SlowStore()
        recorder = UsageRecorder(store, flush_interval=0.01, clock=lambda: NOW)
        recorder.start()
        recorder.settle(done(200, {"total_tokens": 5}))
        await store.writing.wait()  # the first batch is on its way to the store
        recorder.settle(done(200, {"total_tokens": 7}))
        await recorder.aclose()
        assert sum(r.total_tokens for r in store.rows) == 12
        assert sum(r.requests for r in store.rows) == 2

    asyncio.run(run())


def test_usage_the_store_refuses_at_shutdown_is_reported_lost(caplog) -> None:
    store = FakeStore()
    store.fail = True
    recorder = UsageRecorder(store, clock=lambda: NOW)
    for _ in range(3):
        recorder.settle(done(200, {"total_tokens": 5}))
    with caplog.at_level("ERROR", logger="comox.usage"):
        asyncio.run(recorder.aclose())
    lost = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(lost) == 1 and lost[0].fields == {"calls": 3, "rows": 1}
