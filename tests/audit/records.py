"""Audit records built without a gateway, for the audit tests."""

from __future__ import annotations

import os

from comox.audit.chain import link
from comox.audit.record import entry_of


def meta(i: int, tenant: str = "acme", subject: str = "alice", **extra) -> dict:
    return {
        "v": 1,
        "ts": f"2025-01-01T00:00:{i:02d}.000Z",
        "request_id": f"req_{i:04d}",
        "tenant": tenant,
        "key_id": "key_1",
        "subject": subject,
        "client_ip": "127.0.0.1",
        "model": "m",
        "backend": "gpu-a",
        "status": 200,
        "content": "none",
        "content_key": None,
        **extra,
    }


def entries(n: int, content: bool = True) -> list:
    return [entry_of(meta(i), os.urandom(40) if content and i % 2 else None) for i in range(1, n + 1)]


def chain(n: int) -> list[tuple]:
    return link(0, "0" * 64, entries(n))
