"""The worker's audit writer process, for real: a separate process per pipe, records durable
when `commit` returns, failures and deaths failing exactly the unacknowledged records, and
backpressure when the writer stalls. Real SQLite and PostgreSQL, real processes."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import uvloop

from comox.audit import operations
from comox.audit.chain import CheckpointPolicy
from comox.audit.log import open_audit_store
from comox.audit.pipe import WriterGone, WriterPipe
from comox.audit.record import canonical
from comox.audit.writer import WriterSpec
from tests.audit.records import meta

KEY = b"k" * 32


def record(i: int) -> bytes:
    return canonical(meta(i % 60, request_id=f"req_{i:06d}"))


async def opened(url: str, max_pending: int = 10000, handoff: bool = False) -> tuple[WriterPipe, object]:
    pipe = WriterPipe(WriterSpec(url, KEY, checkpoint_every=20).encode(), max_pending, handoff=handoff)
    await pipe.start()
    store = open_audit_store(url, CheckpointPolicy(KEY))
    await store.open()
    return pipe, store


async def stored(store) -> list[str]:
    return [r[2] for r in await store.rows(0, 100000)]


def exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # reaped later by its new parent: a zombie is gone too
        return f.read().split(") ")[1].startswith("Z")


def test_records_are_durable_when_commit_returns_and_the_writer_is_its_own_process(audit_url):
    async def scenario():
        pipe, store = await opened(audit_url)
        pid = pipe.pid
        assert pid is not None and pid != os.getpid()
        await asyncio.gather(*(pipe.commit(record(i), os.urandom(16) if i % 2 else None) for i in range(50)))
        assert len(await stored(store)) == 50  # before the writer stops: durable on return
        assert pipe.stats.records == 50 and pipe.stats.batches <= 2  # one turn of the loop, one group
        await pipe.aclose()
        assert exited(pid)
        report = await operations.verify(store, KEY)
        assert report.ok and report.records == 50 and (await store.checkpoints())[-1].seq == 50
        await store.aclose()

    uvloop.run(scenario())


def test_a_failed_batch_fails_its_records_and_the_writer_carries_on(tmp_path):
    async def scenario():
        url = f"sqlite:///{tmp_path}/audit.db"
        pipe, store = await opened(url)
        await pipe.commit(record(1))
        pid = pipe.pid
        import sqlite3

        db = sqlite3.connect(f"{tmp_path}/audit.db")
        db.execute("ALTER TABLE audit_log RENAME TO moved")
        results = await asyncio.gather(*(pipe.commit(record(i)) for i in range(3)), return_exceptions=True)
        assert all(isinstance(r, WriterGone) for r in results)
        db.execute("ALTER TABLE moved RENAME TO audit_log")
        db.close()
        await pipe.commit(record(9))
        assert pipe.pid == pid and pipe.stats.failed_batches == 1
        await pipe.aclose()
        assert len(await stored(store)) == 2 and (await operations.verify(store, KEY)).ok
        await store.aclose()

    uvloop.run(scenario())


def test_a_killed_writer_fails_what_it_had_not_acknowledged_and_the_next_commit_starts_another(audit_url):
    async def scenario():
        pipe, store = await opened(audit_url)
        await pipe.commit(record(0))
        first = pipe.pid
        os.kill(first, signal.SIGSTOP)
        waiting = [asyncio.ensure_future(pipe.commit(record(i))) for i in range(1, 11)]
        await asyncio.sleep(0.1)
        os.kill(first, signal.SIGKILL)
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, WriterGone) for r in results)
        await asyncio.gather(*(pipe.commit(record(i)) for i in range(11, 21)))
        second = pipe.pid
        assert second not in (None, first) and pipe.stats.writer_deaths == 1
        ids = await stored(store)
        assert ids[0] == "req_000000" and ids[-10:] == [f"req_{i:06d}" for i in range(11, 21)]
        await pipe.aclose()
        assert exited(second)
        assert (await operations.verify(store, KEY)).ok
        await store.aclose()

    uvloop.run(scenario())


def test_with_a_stalled_writer_commits_wait_for_room_instead_of_buffering(tmp_path):
    async def scenario():
        pipe, store = await opened(f"sqlite:///{tmp_path}/audit.db", max_pending=4)
        pid = pipe.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            waiting = [asyncio.ensure_future(pipe.commit(record(i))) for i in range(40)]
            await asyncio.sleep(0.2)
            assert not any(w.done() for w in waiting)
            assert pipe._pending == 4 and pipe._process.sent == 4 and pipe.stats.waits_for_room >= 1
        finally:
            os.kill(pid, signal.SIGCONT)
        await asyncio.gather(*waiting)
        assert pipe._pending == 0 and pipe.stats.largest_batch <= 4
        await pipe.aclose()
        assert sorted(await stored(store)) == [f"req_{i:06d}" for i in range(40)]
        await store.aclose()

    uvloop.run(scenario())


def test_a_cancelled_commit_still_writes_its_record(tmp_path):
    async def scenario():
        pipe, store = await opened(f"sqlite:///{tmp_path}/audit.db")
        pid = pipe.pid
        os.kill(pid, signal.SIGSTOP)
        task = asyncio.ensure_future(pipe.commit(record(7)))
        await asyncio.sleep(0.05)
        task.cancel()
        os.kill(pid, signal.SIGCONT)
        with pytest.raises(asyncio.CancelledError):
            await task
        await pipe.aclose()
        assert await stored(store) == ["req_000007"]
        await store.aclose()

    uvloop.run(scenario())


def test_a_writer_that_keeps_dying_is_restarted_with_back_off_not_per_record(tmp_path):
    """A store that cannot be opened any more (its directory became a file): every writer
    dies at once. Records fail fast with WriterGone; new writers are not started per group."""
    home = tmp_path / "audit"

    async def scenario():
        pipe, store = await opened(f"sqlite:///{home}/log.db")
        await pipe.commit(record(0))
        await store.aclose()
        for path in sorted(home.iterdir(), reverse=True):
            path.unlink()
        home.rmdir()
        home.write_text("not a directory")
        os.kill(pipe.pid, signal.SIGKILL)
        failures = 0
        for i in range(1, 41):  # 40 groups over ~0.4 s
            try:
                await pipe.commit(record(i))
            except WriterGone:
                failures += 1
            await asyncio.sleep(0.01)
        assert failures == 40
        assert pipe.stats.writer_starts <= 6  # 1 at start, then backing off: 0, 50, 100, 200 ms...
        await pipe.aclose()

    uvloop.run(scenario())


def test_handoff_returns_once_the_record_is_in_the_pipe_and_the_writer_commits_it_later(tmp_path):
    """With the writer stopped, handed-off commits return at once (nothing was committed);
    past max_pending they wait for room; once it runs again everything is committed and the
    chain verifies. A writer killed with records handed off counts them as lost."""

    async def scenario():
        pipe, store = await opened(f"sqlite:///{tmp_path}/audit.db", max_pending=50, handoff=True)
        pid = pipe.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.wait_for(asyncio.gather(*(pipe.commit(record(i)) for i in range(50))), 2)
            assert await stored(store) == [] and pipe.stats.records_handed == 50
            late = asyncio.ensure_future(pipe.commit(record(50)))  # over max_pending: waits
            await asyncio.sleep(0.2)
            assert not late.done()
        finally:
            os.kill(pid, signal.SIGCONT)
        await late
        await pipe.aclose()
        assert sorted(await stored(store)) == [f"req_{i:06d}" for i in range(51)]
        assert pipe.stats.records == 51 and pipe.stats.records_lost == 0
        assert (await operations.verify(store, KEY)).ok

        pipe = WriterPipe(WriterSpec(f"sqlite:///{tmp_path}/audit.db", KEY).encode(), handoff=True)
        await pipe.start()
        os.kill(pipe.pid, signal.SIGSTOP)
        for i in range(51, 61):
            await pipe.commit(record(i))
        os.kill(pipe.pid, signal.SIGKILL)
        for _ in range(100):
            if pipe.stats.records_lost and pipe.stats.writer_deaths:
                break
            await asyncio.sleep(0.02)
        assert pipe.stats.records_lost == 10 and pipe.stats.writer_deaths == 1
        await pipe.commit(record(61))  # a new writer takes the next record
        await pipe.aclose()
        assert (await stored(store))[-1] == "req_000061" and (await operations.verify(store, KEY)).ok
        await store.aclose()

    uvloop.run(scenario())
