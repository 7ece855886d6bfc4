"""The hash chain and its signed checkpoints: linking new records, and verifying a log.

Each record commits to the one before it: hash = SHA-256(prev_hash, metadata bytes,
SHA-256 of the content ciphertext). Changing, removing or reordering any record breaks
the link of the next one (or its own hash). A chain alone cannot show that its newest
records were cut off, nor that it was rewritten whole by someone with write access; the
checkpoints can: every so often an HMAC over (chain, seq, hash), with a key the log store
does not hold, pins the chain's head at that moment.

All pure: the stores call `link` inside their write transaction, and `ChainVerifier` is
fed stored rows in seq order by whoever reads them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from comox.audit.record import COLUMNS, INDEXED, Entry

GENESIS = "0" * 64
CHAIN = "main"
"""One chain per log: every worker appends to it inside one store transaction."""
_SEQ, _META, _CONTENT, _CONTENT_SHA, _PREV, _HASH = (
    COLUMNS.index(n) for n in ("seq", "meta", "content", "content_sha256", "prev_hash", "hash")
)
_INDEXED = tuple((COLUMNS.index(n), n) for n in INDEXED)


def content_hash(content: bytes | None) -> str:
    return hashlib.sha256(content).hexdigest() if content is not None else ""


def record_hash(prev_hash: str, meta: bytes, content_sha256: str) -> str:
    h = hashlib.sha256(prev_hash.encode())
    h.update(b"\n")
    h.update(meta)
    h.update(b"\n")
    h.update(content_sha256.encode())
    return h.hexdigest()


def link(last_seq: int, last_hash: str, entries: Sequence[Entry]) -> list[tuple]:
    """Rows (in COLUMNS order) continuing the chain whose head is (last_seq, last_hash)."""
    rows = []
    prev = last_hash
    for i, entry in enumerate(entries, start=last_seq + 1):
        digest = content_hash(entry.content)
        h = record_hash(prev, entry.meta, digest)
        f = entry.fields
        rows.append(
            (
                i,
                f["ts"],
                f["request_id"],
                f["tenant"],
                f["key_id"],
                f["subject"],
                f["model"],
                f["backend"],
                f["status"],
                entry.meta,
                entry.content,
                digest,
                prev,
                h,
            )
        )
        prev = h
    return rows


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    ts: float
    mac: str


def checkpoint_mac(key: bytes, seq: int, record_hash_: str, ts: float) -> str:
    message = f"{CHAIN}|{seq}|{record_hash_}|{ts:.6f}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When to sign the head: every `every` records or `interval` seconds since the last."""

    key: bytes
    every: int = 1000
    interval: float = 60.0

    def due(self, last: tuple[int, float] | None, head_seq: int, now: float) -> bool:
        if head_seq == 0:
            return False
        if last is None:
            return True
        seq, ts = last
        return head_seq > seq and (head_seq - seq >= self.every or now - ts >= self.interval)

    def sign(self, head_seq: int, head_hash: str, now: float) -> Checkpoint:
        return Checkpoint(head_seq, head_hash, now, checkpoint_mac(self.key, head_seq, head_hash, now))


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong with a log: which record (its seq, the position it should have)
    and what: altered, removed, reordered, truncated, or a bad checkpoint."""

    seq: int
    kind: str
    detail: str


@dataclass(slots=True)
class Report:
    records: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


class ChainVerifier:
    """Feed rows in seq order (`feed`), then `finish()`; the report names the first problem.

    `checkpoints` are all stored checkpoints; with `key` their MACs are checked too (without
    it, only that each pins a hash the chain really has).
    """

    def __init__(self, checkpoints: Iterable[Checkpoint] = (), key: bytes | None = None) -> None:
        self.report = Report()
        self.key = key
        self.pins = {c.seq: c for c in checkpoints}
        self.report.checkpoints = len(self.pins)
        self._expected = 1

    def _fail(self, seq: int, kind: str, detail: str) -> None:
        if self.report.problem is None:
            self.report.problem = Problem(seq, kind, detail)

    def feed(self, row: Sequence[Any]) -> bool:
        """Check one row; False once a problem was found (the caller may stop reading)."""
        r = self.report
        if r.problem is not None:
            return False
        seq = row[_SEQ]
        if not isinstance(seq, int) or seq < self._expected:
            self._fail(self._expected, "reordered", f"record numbered {seq!r} where {self._expected} belongs")
            return False
        if seq > self._expected:
            missing = self._expected if seq == self._expected + 1 else f"{self._expected}..{seq - 1}"
            self._fail(self._expected, "removed", f"record(s) {missing} missing before {seq}")
            return False
        self._expected = seq + 1
        problem = _row_problem(row)
        if problem is not None:
            self._fail(seq, "altered", problem)
            return False
        if row[_PREV] != r.head_hash:
            self._fail(seq, "reordered", "does not follow the record before it (moved, or one removed)")
            return False
        pin = self.pins.get(seq)
        if pin is not None and pin.hash != row[_HASH]:
            self._fail(seq, "altered", "its hash differs from the one a signed checkpoint recorded")
            return False
        r.records += 1
        r.head_seq, r.head_hash = seq, row[_HASH]
        return True

    def finish(self) -> Report:
        r = self.report
        if r.problem is not None:
            return r
        for seq in sorted(self.pins):
            pin = self.pins[seq]
            if self.key is not None and not hmac.compare_digest(
                pin.mac, checkpoint_mac(self.key, pin.seq, pin.hash, pin.ts)
            ):
                self._fail(seq, "checkpoint", "checkpoint signature is not valid (forged or altered)")
                return r
            if seq > r.head_seq:
                self._fail(
                    r.head_seq + 1,
                    "truncated",
                    f"records {r.head_seq + 1}..{seq} removed: a signed checkpoint pins record {seq}",
                )
                return r
        if not self.pins:
            r.warnings.append("no signed checkpoints: a cut-off tail or a rewritten chain would not show")
        elif self.key is None:
            r.warnings.append("checkpoint key not available: signatures were not checked")
        return r


def _row_problem(row: Sequence[Any]) -> str | None:
    meta, content = row[_META], row[_CONTENT]
    if not isinstance(meta, bytes | bytearray | memoryview):
        return "metadata is not stored as bytes"
    meta = bytes(meta)
    if content is not None:
        content = bytes(content)
    if content_hash(content) != row[_CONTENT_SHA]:
        return "content ciphertext does not match its hash"
    if not isinstance(row[_PREV], str) or record_hash(row[_PREV], meta, row[_CONTENT_SHA]) != row[_HASH]:
        return "record does not match its hash"
    try:
        doc = orjson.loads(meta)
    except orjson.JSONDecodeError:
        return "metadata is not valid JSON"
    for index, name in _INDEXED:
        if doc.get(name) != row[index] or type(doc.get(name)) is not type(row[index]):
            return f"column {name} differs from the record's metadata"
    return None
