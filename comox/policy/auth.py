"""Authentication: the API key of a request -> its key record, from an in-memory table.

The table (hash -> KeyRecord) is rebuilt from the store whenever the store's change counter
moves and swapped in whole, so a request never waits on the store and always sees one
consistent version. The lookup is by SHA-256 of the presented key: timing can at most tell
an attacker about hashes, never about a key.

A key that passed is remembered by the exact header value it came in (`KeyTable.known`), so
the next request with the same header costs one dict lookup instead of parsing and hashing
(SHA-256 alone was a quarter of what a keyed request added). Only valid keys are remembered,
the memory belongs to one table version (a refresh starts a new one, so a revoked key is
forgotten with its old record), and it is bounded. The lookup by header value hashes it with
the interpreter's keyed string hash, and compares bytes only on a full hash match: it tells
an attacker no more than the SHA-256 table does. The remembered values are never logged:
nothing prints the table.

While no key exists and no admin key is configured, the gateway is open (the embedded quick
start needs no key); from the first key on, every request needs a valid one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from comox.policy.keys import KeyRecord, Tenant, hash_key
from comox.server.errors import GatewayError
from comox.server.request import Request

KNOWN_MAX = 10_000
"""Header values remembered per table version; past it the memory starts over (a client
spelling one key many ways costs hashing again, never correctness)."""


@dataclass(slots=True)
class AuthStats:
    missing: int = 0
    invalid: int = 0
    revoked: int = 0
    expired: int = 0


class KeyTable:
    """The current keys and tenants; `replace()` swaps them in one assignment each."""

    def __init__(self) -> None:
        self.by_hash: dict[str, KeyRecord] = {}
        self.tenants: dict[str, Tenant] = {}
        self.version = -1
        self.known: dict[bytes, KeyRecord] = {}
        """`Authorization` header value -> the valid key it carried, for this version."""
        self.known_api_keys: dict[bytes, KeyRecord] = {}
        """The same for `x-api-key` values (apart: a value means something else in each)."""

    def replace(self, keys: Iterable[KeyRecord], tenants: Iterable[Tenant], version: int) -> None:
        self.by_hash = {k.hash: k for k in keys}
        self.tenants = {t.name: t for t in tenants}
        self.known, self.known_api_keys = {}, {}
        self.version = version


def bearer_token(auth: bytes) -> bytes | None:
    """The key of an `Authorization: Bearer KEY` value, None for another scheme."""
    if auth[:7].lower() == b"bearer ":  # the common case, without splitting
        token = auth[7:].strip()
        if token:
            return token
    scheme, _, token = auth.strip().partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return token.strip()
    return None


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key from `Authorization: Bearer KEY`, else from `x-api-key` (Anthropic style)."""
    auth = headers.get(b"authorization")
    if auth is not None:
        token = bearer_token(auth)
        if token is not None:
            return token
    key = headers.get(b"x-api-key")
    return key.strip() if key and key.strip() else None


def _refuse(message: str, code: str) -> GatewayError:
    return GatewayError(401, message, code=code, headers=((b"www-authenticate", b"Bearer"),))


class Authenticator:
    def __init__(self, table: KeyTable, closed: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.closed = closed
        """True when an admin key is configured: no open mode even before the first key."""
        self.clock = clock
        self.stats = AuthStats()

    @property
    def open(self) -> bool:
        return not self.closed and not self.table.by_hash

    def authenticate(self, request: Request) -> KeyRecord | None:
        """The caller's key record, None in open mode, or a 401 saying what is wrong."""
        record = self.table.known.get(request.headers.get(b"authorization"))  # type: ignore[arg-type]
        if record is not None and (record.expires_at is None or record.expires_at > self.clock()):
            return record  # the same header as a request before: no hashing
        return self._look_up(request)

    def _look_up(self, request: Request) -> KeyRecord | None:
        table = self.table
        if not table.by_hash and not self.closed:
            return None
        auth = request.headers.get(b"authorization")
        token = bearer_token(auth) if auth is not None else None
        known, seen = table.known, auth
        if token is None:
            known, seen = table.known_api_keys, request.headers.get(b"x-api-key")
            record = known.get(seen) if seen is not None else None
            if record is not None and (record.expires_at is None or record.expires_at > self.clock()):
                return record
            token = seen.strip() if seen is not None else None
        if not token:
            self.stats.missing += 1
            raise _refuse(
                "No API key provided. Send it as 'Authorization: Bearer KEY' (or 'x-api-key: KEY').",
                "missing_api_key",
            )
        record = table.by_hash.get(hash_key(token))
        if record is None:
            self.stats.invalid += 1
            raise _refuse(
                "Invalid API key. Check the key, or ask your administrator for one.", "invalid_api_key"
            )
        if record.revoked_at is not None:
            self.stats.revoked += 1
            raise _refuse(f"The API key {record.id} has been revoked.", "revoked_api_key")
        if record.expires_at is not None and record.expires_at <= self.clock():
            self.stats.expired += 1
            raise _refuse(f"The API key {record.id} has expired.", "expired_api_key")
        if len(known) >= KNOWN_MAX:
            known.clear()
        known[seen] = record
        return record
