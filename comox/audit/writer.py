"""The audit writer process: one per gateway worker, the only place that appends records.

`python -m comox.audit.writer` reads its configuration from the first frame on stdin (see
`comox.audit.frames`), opens the store and the JSON Lines sink, acks `(0, OK)`, then loops:
take every record frame that arrived (after `window` seconds, when asked to gather more),
append them as one batch (one durable transaction on the shared chain), write the sinks,
and ack the cumulative count. On stdin EOF it writes what is left, signs the last
checkpoint and exits 0.

It ignores SIGINT and SIGTERM and runs in its own session: the worker stops it by closing
its stdin, and when the worker is killed the pipe closes all the same, so whatever the
writer received is still committed. A worker whose request got an answer had its ack, so
nothing acknowledged is ever lost; what was in the pipe is written too (without a client
waiting for it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import signal
import sys
from dataclasses import dataclass

import orjson

from comox.audit.chain import CheckpointPolicy
from comox.audit.frames import FAILED, OK, FrameDecoder, encode_ack
from comox.audit.jsonl import JsonlSink
from comox.audit.record import entry_from

log = logging.getLogger("comox.audit.writer")
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def grow_pipe(fd: int, size: int = PIPE_SIZE) -> None:
    """Raise a pipe's buffer (Linux), so bursts need fewer wakeups; no harm where refused."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, size)


@dataclass(frozen=True, slots=True)
class WriterSpec:
    """What the writer is told through its stdin: where to write and the checkpoint key."""

    store: str
    checkpoint_key: bytes | None = None
    checkpoint_every: int = 1000
    checkpoint_interval: float = 60.0
    jsonl: str | None = None
    window: float = 0.0

    def encode(self) -> bytes:
        key = self.checkpoint_key
        doc = {
            "store": self.store,
            "checkpoint_key": base64.b64encode(key).decode() if key is not None else None,
            "checkpoint_every": self.checkpoint_every,
            "checkpoint_interval": self.checkpoint_interval,
            "jsonl": self.jsonl,
            "window": self.window,
        }
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, data: bytes) -> WriterSpec:
        doc = orjson.loads(data)
        key = doc.pop("checkpoint_key")
        return cls(checkpoint_key=base64.b64decode(key) if key is not None else None, **doc)

    @property
    def policy(self) -> CheckpointPolicy | None:
        if self.checkpoint_key is None:
            return None
        return CheckpointPolicy(self.checkpoint_key, self.checkpoint_every, self.checkpoint_interval)


class _Stdin(asyncio.Protocol):
    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def data_received(self, data: bytes) -> None:
        self.writer.received(data)

    def eof_received(self) -> bool:
        self.writer.ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.writer.ended()


class Writer:
    def __init__(self, spec: WriterSpec, decoder: FrameDecoder, out: int = 1) -> None:
        from comox.audit.log import open_audit_store

        self.spec = spec
        self.decoder = decoder
        self.out = out
        self.store = open_audit_store(spec.store, spec.policy, inline=True)
        self.sinks = [JsonlSink(spec.jsonl)] if spec.jsonl else []
        self.frames: list[tuple[bytes, bytes | None]] = []
        self.done = 0
        self.eof = False
        self._wake = asyncio.Event()
        self._parent_gone = False

    def received(self, data: bytes) -> None:
        self.frames += self.decoder.feed(data)
        self._wake.set()

    def ended(self) -> None:
        self.eof = True
        self._wake.set()

    def ack(self, status: int) -> None:
        if self._parent_gone:
            return
        try:
            os.write(self.out, encode_ack(self.done, status))
        except BrokenPipeError:  # the worker is gone: keep writing what it sent
            self._parent_gone = True

    async def run(self) -> int:
        await self.store.open()
        for sink in self.sinks:
            await sink.open()
        self.ack(OK)
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: _Stdin(self), os.fdopen(0, "rb", buffering=0, closefd=False))
        try:
            while True:
                if not self.frames:
                    if self.eof:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if self.spec.window and not self.eof:
                    await asyncio.sleep(self.spec.window)
                batch, self.frames = self.frames, []
                await self.write(batch)
            checkpoint = await self.store.checkpoint_now()
            for sink in self.sinks:
                await sink.write((), checkpoint)
        finally:
            for sink in self.sinks:
                await sink.aclose()
            await self.store.aclose()
        return 0

    async def write(self, batch: list[tuple[bytes, bytes | None]]) -> None:
        try:
            rows, checkpoint = await self.store.append([entry_from(meta, content) for meta, content in batch])
            for sink in self.sinks:
                await sink.write(rows, checkpoint)
        except Exception as exc:
            log.error("audit commit failed", extra={"fields": {"records": len(batch), "error": str(exc)}})
            self.done += len(batch)
            self.ack(FAILED)
            return
        self.done += len(batch)
        self.ack(OK)


def read_spec(fd: int, decoder: FrameDecoder) -> tuple[WriterSpec, list[tuple[bytes, bytes | None]]]:
    """Block until the first frame (the configuration) is in: (spec, record frames read with it)."""
    frames: list = []
    while not frames:
        data = os.read(fd, 65536)
        if not data:
            raise EOFError("stdin closed before the writer's configuration arrived")
        frames = decoder.feed(data)
    return WriterSpec.decode(frames[0][0]), frames[1:]


def main() -> int:
    from comox.observability.logs import setup_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup_logging("info")
    grow_pipe(0)
    grow_pipe(1)
    decoder = FrameDecoder()
    try:
        spec, frames = read_spec(0, decoder)
    except (EOFError, ValueError) as exc:
        log.error("audit writer got no configuration", extra={"fields": {"error": str(exc)}})
        return 2
    import uvloop

    writer = Writer(spec, decoder)
    writer.frames = frames
    try:
        return uvloop.run(writer.run())
    except Exception as exc:
        log.error("audit writer stopped", extra={"fields": {"error": str(exc)}}, exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
