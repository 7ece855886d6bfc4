"""A JSON Lines copy of the log, for shipping to a central log system (Loki, Splunk, S3...).

Each committed batch is appended as one `write` (O_APPEND, so lines of several workers
never interleave within a line) and fsynced before the requests of the batch complete.
Lines carry the chained record exactly as stored (content as base64 ciphertext, never
plaintext) or a checkpoint, so the copy can be verified on its own (`comox audit verify
--jsonl FILE`): lines of several workers may be out of seq order; verify sorts them.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from comox.audit.chain import Checkpoint
from comox.audit.record import COLUMNS

_META, _CONTENT = COLUMNS.index("meta"), COLUMNS.index("content")


def row_line(row: Sequence) -> bytes:
    doc = dict(zip(COLUMNS, row, strict=True))
    doc["meta"] = bytes(row[_META]).decode()
    content = row[_CONTENT]
    doc["content"] = base64.b64encode(content).decode() if content is not None else None
    return orjson.dumps({"record": doc}) + b"\n"


def checkpoint_line(cp: Checkpoint) -> bytes:
    return orjson.dumps({"checkpoint": {"seq": cp.seq, "hash": cp.hash, "ts": cp.ts, "mac": cp.mac}}) + b"\n"


def read_lines(path: str) -> tuple[list[tuple], list[Checkpoint]]:
    """Records (sorted by seq, in COLUMNS order) and checkpoints of a JSON Lines copy."""
    rows, checkpoints = [], []
    for doc in _docs(path):
        if "record" in doc:
            rec = doc["record"]
            rec["meta"] = rec["meta"].encode()
            rec["content"] = base64.b64decode(rec["content"]) if rec["content"] is not None else None
            rows.append(tuple(rec[c] for c in COLUMNS))
        elif "checkpoint" in doc:
            checkpoints.append(Checkpoint(**doc["checkpoint"]))
    rows.sort(key=lambda r: r[0])
    return rows, checkpoints


def _docs(path: str) -> Iterator[dict]:
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)


class JsonlSink:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="comox-audit-jsonl")

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def write(self, rows: Sequence[tuple], checkpoint: Checkpoint | None) -> None:
        data = b"".join(row_line(r) for r in rows)
        if checkpoint is not None:
            data += checkpoint_line(checkpoint)
        if data:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._append, data)

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    async def aclose(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._thread.shutdown(wait=False)
