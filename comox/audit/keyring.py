"""One content key per (tenant, subject): created on first use, cached, destroyed on erasure.

The store keeps only wrapped keys. A cache hit costs a dict lookup; a miss reads the store
(and creates the key when the subject is new: insert-if-absent, so two workers racing on
a new subject end up with the same key). Entries expire after `ttl` seconds, which bounds
how long another worker can keep using a key erased elsewhere; content it seals meanwhile
refers to a key that no longer exists, so it is as unreadable as the rest.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from comox.audit.crypto import KeyProvider, new_data_key


class KeyStore(Protocol):
    async def subject_key(self, tenant: str, subject: str) -> tuple[str, bytes] | None:
        """(key_id, wrapped) of the subject's key, if it has one."""

    async def key_by_id(self, key_id: str) -> tuple[str, str, bytes] | None:
        """(tenant, subject, wrapped) of a key, None once erased."""

    async def add_subject_key(
        self, key_id: str, tenant: str, subject: str, wrapped: bytes, at: float
    ) -> tuple[str, bytes]:
        """Store the key unless the subject has one already; the subject's key either way."""

    async def delete_subject_keys(self, subject: str, tenant: str | None) -> list[str]:
        """Destroy the keys (durably, leaving no copy in the file); the ids destroyed."""


@dataclass(slots=True)
class KeyRingStats:
    hits: int = 0
    misses: int = 0
    created: int = 0
    erased: int = 0


def context(key_id: str, tenant: str, subject: str) -> bytes:
    return f"comox-audit-key|{key_id}|{tenant}|{subject}".encode()


class KeyRing:
    def __init__(
        self,
        store: KeyStore,
        provider: KeyProvider,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.provider = provider
        self.ttl = ttl
        self.clock = clock
        self.stats = KeyRingStats()
        self._cache: dict[tuple[str, str], tuple[float, str, bytes]] = {}

    async def key_for(self, tenant: str, subject: str) -> tuple[str, bytes]:
        """(key_id, data key) to seal this subject's content with."""
        now = self.clock()
        cached = self._cache.get((tenant, subject))
        if cached is not None and cached[0] > now:
            self.stats.hits += 1
            return cached[1], cached[2]
        self.stats.misses += 1
        found = await self.store.subject_key(tenant, subject)
        if found is None:
            key_id, key = "dk_" + secrets.token_hex(8), new_data_key()
            wrapped = await self.provider.wrap(key, context(key_id, tenant, subject))
            found = await self.store.add_subject_key(key_id, tenant, subject, wrapped, now)
            self.stats.created += found[0] == key_id
        key_id, wrapped = found
        key = await self.provider.unwrap(wrapped, context(key_id, tenant, subject))
        self._cache[(tenant, subject)] = (now + self.ttl, key_id, key)
        return key_id, key

    async def key_by_id(self, key_id: str) -> bytes | None:
        """The data key of `key_id` for reading content; None when it was erased."""
        found = await self.store.key_by_id(key_id)
        if found is None:
            return None
        tenant, subject, wrapped = found
        return await self.provider.unwrap(wrapped, context(key_id, tenant, subject))

    async def erase(self, subject: str, tenant: str | None = None) -> list[str]:
        """Destroy the subject's keys (in every tenant unless one is named)."""
        erased = await self.store.delete_subject_keys(subject, tenant)
        for cached in [k for k in self._cache if k[1] == subject and tenant in (None, k[0])]:
            del self._cache[cached]
        self.stats.erased += len(erased)
        return erased
