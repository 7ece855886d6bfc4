"""The worker's end of its audit writer process (`comox.audit.writer`): records out, acks in.

`commit(meta, content)` appends the record's frame to a buffer and joins the current
*group*: every record committed in one turn of the event loop is flushed by one pipe write
(scheduled with `call_soon`) and shares one future, resolved when the writer's cumulative
ack covers the group's last record (or failed when a failed batch covers any of it). The
caller returns only once its record is durable. While `depth` writes are unacknowledged (the
writer is committing one batch and has the next), further groups wait and are written together
when the next ack comes: the writer could not take them sooner, and fewer, larger writes spare
both processes wakeups and system calls.

- Bounded: at most `max_pending` records are buffered or unacknowledged; beyond that
  `commit` waits for room.
- A group's future cannot be cancelled: a request cancelled while it waits is cancelled
  once its group is resolved, and its record, already buffered, is written all the same.
- If the writer dies, every unacknowledged group fails (its requests get a 503), the death
  is logged once, and the next commit starts a new writer. Records buffered but not yet
  sent go to the new writer. Each writer reads the chain's head inside its transaction,
  so a new writer continues the chain wherever the old one left it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections import deque
from dataclasses import dataclass

from comox.audit.frames import FAILED, AckDecoder, encode, record_head
from comox.audit.writer import grow_pipe

log = logging.getLogger("comox.audit")


MIN_BACKOFF, MAX_BACKOFF = 0.05, 5.0
"""Seconds before a new writer is started after one died or could not start, doubling while
they keep failing (a broken store must not become a process per request)."""


BACKING_OFF = "the audit writer failed; a new one starts shortly"


class WriterGone(RuntimeError):
    """The audit writer process ended before it acknowledged the record."""


@dataclass(slots=True)
class CommitStats:
    records: int = 0
    """Records acknowledged durable."""
    batches: int = 0
    """Groups of records flushed to the writer together."""
    failed_batches: int = 0
    """Groups failed: by a failed write, or by the writer's death."""
    largest_batch: int = 0
    waits_for_room: int = 0
    writer_starts: int = 0
    writer_deaths: int = 0
    """Writers that ended while the worker was not closing them."""
    records_handed: int = 0
    """Handoff durability: records written to the pipe (answered without waiting)."""
    records_lost: int = 0
    """Handoff durability: records handed off that the writer failed to commit or died with."""


class _Group(asyncio.Future):
    """The records flushed in one write, and the one future their callers wait on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.size = 0
        self.start = self.end = 0
        """This writer's count of records before the group's first and after its last."""

    def cancel(self, msg=None) -> bool:
        return False  # shared by several callers: one being cancelled must not fail the others

    def settle(self, error: BaseException | None) -> None:
        if self.done():
            return
        if error is None:
            self.set_result(None)
        else:
            self.set_exception(error)


class _Process(asyncio.SubprocessProtocol):
    """One writer process: its pipes, its count of records sent and acknowledged."""

    def __init__(self, owner: WriterPipe) -> None:
        self.owner = owner
        self.transport: asyncio.SubprocessTransport | None = None
        self.stdin: asyncio.WriteTransport | None = None
        self.groups: deque[_Group] = deque()
        self.writes: deque[int] = deque()
        """The count of records sent after each write not yet wholly acknowledged."""
        self.sent = self.acked = 0
        self.ready = owner.loop.create_future()
        self.exited = owner.loop.create_future()
        self.gone = False
        self.decoder = AckDecoder()
        self.sender: _Sender | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    # ---- stdout: acks -------------------------------------------------------------------
    def acks(self, data: bytes) -> None:
        for count, status in self.decoder.feed(data):
            if not self.ready.done():
                self.ready.set_result(None)
            self.owner.acknowledged(self, count, status)

    def stdout_closed(self) -> None:
        self.gone = True
        if not self.ready.done():
            self.ready.set_exception(WriterGone("the audit writer exited before it was ready"))
            self.ready.exception()  # retrieved here: a lazily started writer has no one waiting
        self.owner.lost(self)

    # ---- the process --------------------------------------------------------------------
    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(self.transport.get_returncode())
        self.owner.exited(self)


class _Acks(asyncio.Protocol):
    def __init__(self, process: _Process) -> None:
        self.process = process

    def data_received(self, data: bytes) -> None:
        self.process.acks(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.process.stdout_closed()


class _Sender(asyncio.Protocol):
    """The records pipe; with a zero high-water mark, paused means "bytes still in user space"
    and resumed means "all in the kernel", which handoff durability waits for."""

    def __init__(self) -> None:
        self.drained: asyncio.Future | None = None

    def pause_writing(self) -> None:
        if self.drained is None or self.drained.done():
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()


class WriterPipe:
    def __init__(
        self,
        spec: bytes,
        max_pending: int = 10000,
        close_timeout: float = 30.0,
        depth: int = 2,
        handoff: bool = False,
    ) -> None:
        """`spec` is the writer's configuration (`WriterSpec.encode()`), its first frame; at most
        `depth` pipe writes are unacknowledged: more records wait for an ack and go as one.
        `handoff`: `commit` returns once the record is in the pipe's kernel buffer, not once
        it is durable (see `hand_off`)."""
        self.spec = spec
        self.handoff = handoff
        self.depth = depth
        self.max_pending = max_pending
        self.close_timeout = close_timeout
        self.stats = CommitStats()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start()
        self._process: _Process | None = None
        self._starting: asyncio.Task | None = None
        self._buf: list[bytes] = []
        self._group: _Group | None = None
        self._unsent: list[_Group] = []
        self._pending = 0
        self._room: list[asyncio.Future] = []
        self._closing = False
        self._retry_at = 0.0
        self._backoff = 0.0
        """The first death restarts at once; a new writer that dies before committing anything
        waits MIN_BACKOFF, then twice as long each time, up to MAX_BACKOFF."""

    @property
    def pid(self) -> int | None:
        """The current writer process's id (None when none runs)."""
        p = self._process
        return p.transport.get_pid() if p is not None and p.transport is not None and not p.gone else None

    async def start(self) -> None:
        """Start the writer and wait until its store is open (a failure is raised here, at boot)."""
        self.loop = asyncio.get_running_loop()
        process = await self._spawn()
        await asyncio.wait_for(asyncio.shield(process.ready), 60.0)

    async def _spawn(self) -> _Process:
        process = _Process(self)
        records_r, records_w = os.pipe()
        acks_r, acks_w = os.pipe()
        try:
            grow_pipe(records_w)
            grow_pipe(acks_r)
            await self.loop.subprocess_exec(
                lambda: process,
                sys.executable,
                "-m",
                "comox.audit.writer",
                "--for",
                str(os.getpid()),
                stdin=records_r,
                stdout=acks_w,
                stderr=None,
                start_new_session=True,  # not killed with the worker's process group
            )
        except BaseException:
            for fd in (records_r, records_w, acks_r, acks_w):
                os.close(fd)
            raise
        os.close(records_r)
        os.close(acks_w)
        # the transports own (and close) these files
        sending = open(records_w, "wb", buffering=0)  # noqa: SIM115
        acking = open(acks_r, "rb", buffering=0)  # noqa: SIM115
        process.stdin, process.sender = await self.loop.connect_write_pipe(_Sender, sending)
        process.stdin.set_write_buffer_limits(high=0)
        await self.loop.connect_read_pipe(lambda: _Acks(process), acking)
        process.stdin.write(encode(self.spec))
        self._process = process
        self.stats.writer_starts += 1
        return process

    # ---- committing ---------------------------------------------------------------------
    async def commit(self, meta: bytes, content: bytes | None = None) -> None:
        """Return once the record is durable; raise if its write failed or the writer died."""
        if self._pending >= self.max_pending:
            await self._wait_for_room()
        if self.handoff:
            return await self.hand_off(meta, content)
        group = self._group
        if group is None:
            group = self._group = _Group(self.loop)
            self.loop.call_soon(self._flush)
        buf = self._buf
        buf.append(record_head(meta, content))
        buf.append(meta)
        if content:
            buf.append(content)
        group.size += 1
        self._pending += 1
        await group

    async def hand_off(self, meta: bytes, content: bytes | None) -> None:
        """Return once the record's frame is in the kernel's pipe buffer, usually at once.

        From there a `kill -9` of the gateway cannot lose it: the writer runs in its own
        session and commits what it reads until the pipe closes. What can: the writer process
        dying, or the machine, before the commit (at most `max_pending` records; both are
        logged and counted). One write per record: no group to wait for, no suspension."""
        process = self._process
        if process is None or process.gone:
            process = await self._writer_now()
        process.stdin.write(encode(meta, content))
        process.sent += 1
        self._pending += 1
        self.stats.records_handed += 1
        drained = process.sender.drained
        if drained is not None and not drained.done():  # the pipe is full: the writer is behind
            await drained

    async def _writer_now(self) -> _Process:
        """The running writer, started now if there is none (one start for every caller
        waiting, with the restart back-off)."""
        starting = self._start_soon()
        if starting is None:
            raise WriterGone(BACKING_OFF)
        await asyncio.shield(starting)
        process = self._process
        if process is None or process.gone:
            raise WriterGone("cannot start the audit writer")
        return process

    def _start_soon(self) -> asyncio.Task | None:
        """The task starting a new writer (one at a time), or None while backing off."""
        if self._starting is None:
            if self.loop.time() < self._retry_at:
                return None
            self._starting = self.loop.create_task(self._restart())
        return self._starting

    async def _wait_for_room(self) -> None:
        self.stats.waits_for_room += 1
        while self._pending >= self.max_pending:
            waiter = self.loop.create_future()
            self._room.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._room:
                    self._room.remove(waiter)

    def _flush(self, force: bool = False) -> None:
        if self._group is not None:
            self._unsent.append(self._group)
            self._group = None
        if not self._unsent:
            return
        process = self._process
        if process is None or process.gone:
            if self._start_soon() is None:
                self._fail_unsent(WriterGone(BACKING_OFF))
            return
        if len(process.writes) >= self.depth and not force:
            return  # the writer has work queued: this goes with the next ack, as one bigger group
        for group in self._unsent:
            group.start = process.sent
            process.sent = group.end = process.sent + group.size
            process.groups.append(group)
        self.stats.batches += len(self._unsent)
        self.stats.largest_batch = max(self.stats.largest_batch, *(g.size for g in self._unsent))
        self._unsent = []
        process.writes.append(process.sent)
        data, self._buf = b"".join(self._buf), []
        process.stdin.write(data)

    async def _restart(self) -> None:
        try:
            await self._spawn()
        except Exception as exc:
            log.error("cannot start the audit writer", extra={"fields": {"error": str(exc)}})
            self._back_off()
            self._fail_unsent(WriterGone(f"cannot start the audit writer: {exc}"))
        finally:
            self._starting = None
        self._flush(force=True)

    def _fail_unsent(self, error: BaseException) -> None:
        """Fail every record not yet sent to a writer (none can take them now)."""
        if self._group is not None:  # committed meanwhile: its frames are in the buffer too
            self._unsent.append(self._group)
            self._group = None
        groups, self._unsent, self._buf = self._unsent, [], []
        for group in groups:
            self._failed(group, error)
            self._pending -= group.size
        self._wake_room()

    def _back_off(self) -> None:
        self._retry_at = self.loop.time() + self._backoff
        self._backoff = min(max(self._backoff * 2, MIN_BACKOFF), MAX_BACKOFF)

    # ---- from the writer ----------------------------------------------------------------
    def acknowledged(self, process: _Process, count: int, status: int) -> None:
        groups = process.groups
        if status == FAILED:
            if self.handoff:  # answered already: all that is left is to say so, loudly
                self.stats.records_lost += count - process.acked
                log.error(
                    "audit records handed off were not committed",
                    extra={"fields": {"records": count - process.acked}},
                )
            error = WriterGone("the audit writer could not commit the records")
            while groups and groups[0].start < count:
                self._failed(groups.popleft(), error)
        else:
            if count > process.acked:  # a writer that commits: the next death starts afresh
                self._backoff = 0.0
            while groups and groups[0].end <= count:
                group = groups.popleft()
                self.stats.records += group.size
                group.settle(None)
            if self.handoff:
                self.stats.records += count - process.acked
        self._pending -= count - process.acked
        process.acked = count
        writes = process.writes
        while writes and writes[0] <= count:
            writes.popleft()
        if self._unsent and len(writes) < self.depth:
            self._flush()
        self._wake_room()

    def lost(self, process: _Process) -> None:
        """The writer's stdout closed: no more acks. Fail what it had not acknowledged."""
        if process.groups:
            error = WriterGone("the audit writer ended before the records were durable")
            while process.groups:
                self._failed(process.groups.popleft(), error)
        if self.handoff and process.sent > process.acked:
            self.stats.records_lost += process.sent - process.acked
            log.error(
                "audit writer ended with records handed off but not committed",
                extra={"fields": {"records": process.sent - process.acked}},
            )
        self._pending -= process.sent - process.acked
        process.acked = process.sent
        self._wake_room()
        if process is self._process:
            self._process = None
            if self._unsent or self._group is not None:
                self.loop.call_soon(self._flush)

    def exited(self, process: _Process) -> None:
        code = process.exited.result()
        if not self._closing:
            self.stats.writer_deaths += 1
            self._back_off()
            log.error(
                "audit writer died; unacknowledged requests failed, the next record starts a new one",
                extra={"fields": {"exit_code": code, "pid": process.transport.get_pid()}},
            )
        self.loop.call_soon(process.transport.close)

    def _failed(self, group: _Group, error: BaseException) -> None:
        self.stats.failed_batches += 1
        group.settle(error)

    def _wake_room(self) -> None:
        if self._room and self._pending < self.max_pending:
            for waiter in self._room:
                if not waiter.done():
                    waiter.set_result(None)

    # ---- closing ------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Send what is buffered, close the writer's stdin and wait for it to finish (it signs
        the last checkpoint), killing it after `close_timeout` seconds."""
        self._flush(force=True)
        while self._starting is not None:
            await self._starting
        self._closing = True
        process = self._process
        if process is None:
            return
        process.stdin.close()
        try:
            code = await asyncio.wait_for(asyncio.shield(process.exited), self.close_timeout)
        except TimeoutError:
            log.error("audit writer did not finish in time; killed", extra={"fields": {"pid": self.pid}})
            process.transport.kill()
            code = await process.exited
        if code:
            log.error("audit writer exited with an error", extra={"fields": {"exit_code": code}})
        self._process = None
