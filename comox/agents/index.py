"""The in-process vector index: each user's memories as numpy arrays, kept per worker.

The embeddings are persisted in the store (blobs beside their memories); this is a cache
over them, checked against the scope's version on every use. A worker's own additions are
appended in place (the common case: one exchange adds one or a few memories); any other
change, or a change made by another worker or replica, reloads the scope from the store.
Brute-force cosine over a contiguous float32 matrix is exact and takes about a millisecond
for 10,000 memories of 384 dimensions (bench/memory/README.md), so no approximate index.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from comox.agents.records import Scope
from comox.agents.retrieve import Columns


@dataclass(slots=True)
class IndexStats:
    loads: int = 0
    appends: int = 0
    evictions: int = 0


def columns_from_rows(rows: list[tuple]) -> Columns:
    n = len(rows)
    dim = len(rows[0][1]) // 4 if rows else 0
    vectors = np.empty((n, dim), np.float32)
    for i, row in enumerate(rows):
        vectors[i] = np.frombuffer(row[1], np.float32)
    return Columns(
        ids=np.fromiter((r[0] for r in rows), np.int64, n),
        vectors=vectors,
        created=np.fromiter((r[2] for r in rows), np.float64, n),
        importance=np.fromiter((r[3] for r in rows), np.float32, n),
        current=np.fromiter((bool(r[4]) for r in rows), bool, n),
        stale=np.fromiter((bool(r[5]) for r in rows), bool, n),
        turn=np.fromiter((-1 if r[6] is None else r[6] for r in rows), np.int64, n),
    )


def appended(cols: Columns, more: Columns) -> Columns:
    if not len(cols.ids):
        return more
    return Columns(*(np.concatenate((a, b)) for a, b in zip(_fields(cols), _fields(more), strict=True)))


def _fields(cols: Columns) -> tuple:
    return (cols.ids, cols.vectors, cols.created, cols.importance, cols.current, cols.stale, cols.turn)


class IndexCache:
    """At most `capacity` users' indexes, least recently used evicted first."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.stats = IndexStats()
        self._entries: OrderedDict[Scope, tuple[int, Columns]] = OrderedDict()

    def get(self, scope: Scope, version: int) -> Columns | None:
        """The scope's columns if cached at `version`, else None (then `put` a reload)."""
        entry = self._entries.get(scope)
        if entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(scope)
        return entry[1]

    def put(self, scope: Scope, version: int, rows: list[tuple]) -> Columns:
        cols = columns_from_rows(rows)
        self.stats.loads += 1
        self._entries[scope] = (version, cols)
        self._entries.move_to_end(scope)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
        return cols

    def add(self, scope: Scope, version: int, rows: list[tuple]) -> None:
        """Rows this worker just added, which took the scope to `version`: appended when the
        cache held the version just before, else the entry is dropped (reloaded on next use)."""
        entry = self._entries.get(scope)
        if entry is None:
            return
        if entry[0] != version - 1:
            del self._entries[scope]
            return
        self._entries[scope] = (version, appended(entry[1], columns_from_rows(rows)))
        self.stats.appends += 1

    def drop(self, scope: Scope) -> None:
        self._entries.pop(scope, None)
