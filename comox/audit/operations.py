"""Reading and managing the log: search, subject export, erasure, verification.

Shared by `comox audit ...` and the admin API; each takes the store (and the key ring when
content is involved) and returns plain data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from comox.audit.chain import ChainVerifier, Checkpoint, Report
from comox.audit.crypto import unseal
from comox.audit.keyring import KeyRing
from comox.audit.log import content_context
from comox.audit.query import Filters
from comox.audit.record import COLUMNS

_SEQ, _META, _CONTENT, _HASH = (COLUMNS.index(n) for n in ("seq", "meta", "content", "hash"))
PAGE = 1000


def public(row: Sequence) -> dict[str, Any]:
    """A record as the API and CLI show it: its metadata, seq and hash (never content)."""
    return {"seq": row[_SEQ], "hash": row[_HASH], **orjson.loads(bytes(row[_META]))}


async def search(store, filters: Filters) -> list[dict[str, Any]]:
    return [public(r) for r in await store.search(filters)]


async def export_subject(
    store, keyring: KeyRing, subject: str, tenant: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every record of the subject with its content decrypted (art. 15); content whose key
    was erased is reported as such."""
    keys: dict[str, bytes | None] = {}
    after = 0
    while True:
        rows = await store.search(Filters(subject=subject, tenant=tenant, after=after, limit=PAGE))
        for row in rows:
            record = public(row)
            record["decrypted"] = await _content(keyring, keys, record, row[_CONTENT])
            yield record
        if len(rows) < PAGE:
            return
        after = rows[-1][_SEQ]


async def _content(keyring: KeyRing, keys: dict, record: dict, sealed: bytes | None) -> Any:
    key_id = record.get("content_key")
    if sealed is None or key_id is None:
        return None
    if key_id not in keys:
        keys[key_id] = await keyring.key_by_id(key_id)
    key = keys[key_id]
    if key is None:
        return {"erased": True}
    try:
        return orjson.loads(unseal(key, bytes(sealed), content_context(record["request_id"], key_id)))
    except InvalidTag:
        return {"unreadable": True}


async def erase(keyring: KeyRing, subject: str, tenant: str | None = None) -> list[str]:
    return await keyring.erase(subject, tenant)


async def verify(store, checkpoint_key: bytes | None) -> Report:
    verifier = ChainVerifier(await store.checkpoints(), checkpoint_key)
    after = 0
    while True:
        rows = await store.rows(after, PAGE)
        for row in rows:
            if not verifier.feed(row):
                return verifier.finish()
        if len(rows) < PAGE:
            return verifier.finish()
        after = rows[-1][_SEQ]


def verify_rows(rows: Iterable[Sequence], checkpoints: Iterable[Checkpoint], key: bytes | None) -> Report:
    verifier = ChainVerifier(checkpoints, key)
    for row in rows:
        if not verifier.feed(row):
            break
    return verifier.finish()


def describe_report(report: Report) -> str:
    if report.problem is None:
        return (
            f"ok: {report.records} records, {report.checkpoints} signed checkpoints, "
            f"head seq {report.head_seq} ({report.head_hash[:16]}...)"
        )
    p = report.problem
    return f"FAILED at record {p.seq}: {p.kind}: {p.detail} ({report.records} records verified before it)"
