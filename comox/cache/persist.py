"""A worker's cache on disk, and the erasure journal every process shares.

Each worker saves its answers (JSON Lines) and vectors (.npz, no pickle) under its own
names, periodically and at shutdown, with file mode 0600; a restarted worker loads its
own. Erasure must reach workers from other processes (`comox audit erase`, or the admin
API answered by another worker), so it is journalled: one line per request with the
subject's hash (never the identifier), the tenant (or null for every tenant) and the time;
each worker applies new lines on a short poll, and all of them when it loads its files.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from comox.cache.exact import AnswerStore, Entry
from comox.cache.key import subject_hash

JOURNAL = "erasures.jsonl"


def _private(path: Path, flags: int) -> int:
    return os.open(path, flags, 0o600)


def save_answers(path: Path, entries: Iterable[tuple[str, Entry]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
        for key, e in entries:
            doc = {
                "k": key,
                "f": e.form,
                "t": e.tenant,
                "s": e.subject,
                "c": e.created,
                "x": e.expires,
                "b": base64.b64encode(e.body).decode(),
            }
            f.write(orjson.dumps(doc) + b"\n")
    os.replace(tmp, path)


def load_answers(path: Path) -> Iterator[tuple[str, Entry]]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        for line in f:
            try:
                d = orjson.loads(line)
                entry = Entry(base64.b64decode(d["b"]), d["f"], d["t"], d["s"], d["c"], d["x"])
            except (orjson.JSONDecodeError, KeyError, ValueError):
                continue  # a torn last line after a crash: skip it
            yield d["k"], entry


@dataclass(frozen=True, slots=True)
class Erasure:
    subject: str
    """Hash of the subject."""
    tenant: str | None
    at: float


class Journal:
    """The shared erasure journal in the cache directory; appends are single writes."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL
        self.offset = 0

    def append(self, subject: str, tenant: str | None, at: float | None = None) -> Erasure:
        erasure = Erasure(subject_hash(subject), tenant, time.time() if at is None else at)
        line = orjson.dumps({"s": erasure.subject, "t": erasure.tenant, "at": erasure.at}) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return erasure

    def new(self) -> list[Erasure]:
        """Lines appended since the last call (all of them on the first)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size <= self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        self.offset += end
        found = []
        for line in data[:end].splitlines():
            try:
                d = orjson.loads(line)
                found.append(Erasure(d["s"], d["t"], d["at"]))
            except (orjson.JSONDecodeError, KeyError):
                continue
        return found


def apply(store: AnswerStore, erasures: Iterable[Erasure]) -> list[str]:
    """Drop the entries each erasure names that were stored before it; returns their keys."""
    keys: list[str] = []
    for e in erasures:
        keys += store.erase(e.subject, e.tenant, before=e.at)
    return keys


def request_cache_erasure(cache_config, subject: str, tenant: str | None) -> bool:
    """From another process (the CLI): journal the erasure for the workers; False when the
    cache keeps no directory (nothing on disk, and no way to reach the workers)."""
    directory = Path(cache_config.directory) if cache_config.directory else None
    if directory is None or not (cache_config.enabled or directory.exists()):
        return False
    Journal(directory).append(subject, tenant)
    return True
