"""Stored answers by exact key: an in-memory LRU with a time to live.

Every answer lives here, semantic hits included (the vector index only points at keys), so
TTL, size bound and erasure act in one place. Expiry uses the wall clock, injected, so that
it holds across a restart and tests need no sleeps.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

CHAT = "chat"
"""A whole chat.completion JSON, replayed whole or as an SSE stream."""
JSON = "json"
"""A whole answer of another family, replayed as stored."""
SSE = "sse"
"""A stream of another family, replayed as stored."""


@dataclass(slots=True)
class Entry:
    body: bytes
    form: str
    tenant: str
    subject: str
    """Hash of the subject (see key.subject_hash)."""
    created: float
    """Wall-clock time it was stored (an erasure applies to entries stored before it)."""
    expires: float
    """Wall-clock time after which the entry is never served."""


@dataclass(slots=True)
class StoreStats:
    stores: int = 0
    evictions: int = 0
    """Entries dropped to make room (least recently used)."""
    expirations: int = 0
    erased: int = 0


class AnswerStore:
    shared = False
    """Held in this worker (see comox.cache.shared for the store every worker shares)."""

    def __init__(self, max_entries: int, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self.stats = StoreStats()
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self.clock():
            del self._entries[key]
            self.stats.expirations += 1
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, body: bytes, form: str, tenant: str, subject: str) -> list[str]:
        """Store an answer; returns the keys evicted to make room."""
        entries = self._entries
        now = self.clock()
        entries[key] = Entry(body, form, tenant, subject, now, now + self.ttl)
        entries.move_to_end(key)
        self.stats.stores += 1
        evicted = []
        while len(entries) > self.max_entries:
            old, _ = entries.popitem(last=False)
            evicted.append(old)
        self.stats.evictions += len(evicted)
        return evicted

    def restore(self, key: str, entry: Entry) -> None:
        """Put back an entry loaded from disk, as it was (no new TTL); skipped when expired."""
        if entry.expires > self.clock() and len(self._entries) < self.max_entries:
            self._entries[key] = entry

    def erase(self, subject: str, tenant: str | None, before: float = float("inf")) -> list[str]:
        """Drop every entry of the subject (in one tenant, or in all) stored before `before`;
        returns their keys."""
        gone = [
            k
            for k, e in self._entries.items()
            if e.subject == subject and (tenant is None or e.tenant == tenant) and e.created < before
        ]
        for key in gone:
            del self._entries[key]
        self.stats.erased += len(gone)
        return gone

    def items(self) -> Iterator[tuple[str, Entry]]:
        """Live entries, least recently used first (the order a reload keeps)."""
        now = self.clock()
        return ((k, e) for k, e in list(self._entries.items()) if e.expires > now)
