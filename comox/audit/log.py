"""The audit log of one worker, assembled from the config: store, key ring, writer process.

Appends go to the worker's own writer process (`comox.audit.writer`, through
`comox.audit.pipe`), which owns the appending store connection and the JSON Lines sink; the
worker keeps a store connection for everything else (content keys, search, export, erasure).

Lifecycle: `from_config()` builds and reads the secrets (failing at boot when content is
to be kept but no master key is available), `start()` opens the store and starts the
writer, `aclose()` sends what is queued and waits for the writer to commit it and sign a
last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from comox.api.call import Call
from comox.audit.chain import CheckpointPolicy
from comox.audit.crypto import KeyUnavailable, provider_from, read_secret, seal
from comox.audit.keyring import KeyRing
from comox.audit.pipe import WriterPipe
from comox.audit.record import BackendFacts, completion_text, describe, prompt_of, record_bytes
from comox.audit.stage import AuditHead, AuditTail, Pending, refused
from comox.audit.writer import WriterSpec
from comox.config.audit import AuditConfig
from comox.server.errors import GatewayError

log = logging.getLogger("comox.audit")


@dataclass(slots=True)
class AuditStats:
    recorded: int = 0
    """Records committed before their answer completed."""
    recorded_late: int = 0
    """Records of calls that ended without completing (client gone, internal error)."""
    refusals: int = 0
    failures: int = 0
    sealed: int = 0
    truncated: int = 0


def content_context(request_id: str, key_id: str) -> bytes:
    return f"comox-audit-content|{request_id}|{key_id}".encode()


def open_audit_store(url: str, policy: CheckpointPolicy | None = None, inline: bool = False):
    """The store of `url`; `inline` (SQLite) writes on the calling thread, for the writer process."""
    if url.startswith("sqlite:"):
        from comox.stores.audit_sqlite import SqliteAuditStore

        return SqliteAuditStore.from_url(url, policy, inline)
    from comox.stores.audit_postgres import PostgresAuditStore

    return PostgresAuditStore.from_url(url, policy)


def secrets_of(config: AuditConfig) -> tuple[bytes | None, bytes | None]:
    """(master key, checkpoint key) from their files or environment variables."""
    master = read_secret(config.master_key_file, config.master_key_env, "audit master key")
    checkpoint = read_secret(config.checkpoint_key_file, config.checkpoint_key_env, "audit checkpoint key")
    if checkpoint is not None and len(checkpoint) < 16:
        raise KeyUnavailable("the audit checkpoint key must be at least 16 bytes")
    return master, checkpoint


HANDOFF_WINDOW = 0.005
"""Seconds a writer gathers handed-off records before a commit, unless `commit_window_ms` says:
records arrive one write each, and no client waits for the commit, so batching them costs
nothing and spares a transaction and an fsync per record."""


def writer_spec(config: AuditConfig, checkpoint: bytes | None) -> WriterSpec:
    window = config.commit_window_ms / 1000
    if not window and config.durability == "handoff":
        window = HANDOFF_WINDOW
    return WriterSpec(
        config.store, checkpoint, config.checkpoint_every, config.checkpoint_interval, config.jsonl, window
    )


def build(config: AuditConfig, master: bytes | None, checkpoint: bytes | None) -> tuple[Any, KeyRing]:
    """(store, key ring) from the config and the secrets, as the CLI and the gateway use them."""
    policy = (
        CheckpointPolicy(checkpoint, config.checkpoint_every, config.checkpoint_interval)
        if checkpoint
        else None
    )
    store = open_audit_store(config.store, policy)
    return store, KeyRing(store, provider_from(master), config.key_cache_ttl)


class AuditLog:
    def __init__(
        self,
        config: AuditConfig,
        store,
        keyring: KeyRing,
        writer: WriterPipe,
        backends: Mapping[str, BackendFacts] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.keyring = keyring
        self.writer = writer
        self.backends = dict(backends or {})
        self.clock = clock
        self.stats = AuditStats()
        self.head, self.tail = AuditHead(self), AuditTail(self)
        self._late: set[asyncio.Task] = set()

    @classmethod
    def from_config(cls, config) -> AuditLog:
        audit: AuditConfig = config.audit
        master, checkpoint = secrets_of(audit)
        if audit.keeps_content and master is None:
            raise KeyUnavailable(
                "audit content is kept but no master key is configured: set audit.master_key_file "
                f"or the environment variable {audit.master_key_env} (`comox audit keygen` makes one)"
            )
        store, keyring = build(audit, master, checkpoint)
        facts = {b.name: BackendFacts(b.is_cloud, getattr(b, "jurisdiction", None)) for b in config.backends}
        writer = WriterPipe(
            writer_spec(audit, checkpoint).encode(), audit.max_pending, handoff=audit.durability == "handoff"
        )
        return cls(audit, store, keyring, writer, facts)

    @property
    def stages(self) -> tuple[AuditHead, AuditTail]:
        return self.head, self.tail

    async def start(self) -> None:
        await self.store.open()
        await self.writer.start()

    # ---- recording --------------------------------------------------------------------------
    async def on_complete(self, call: Call) -> None:
        """The `before_complete` hook: the record is durable when this returns, or the
        client gets a 503 instead of an answer that has no record."""
        pending: Pending = call.request.state["audit"]
        pending.recorded = True
        try:
            await self._record(call, pending, asyncio.get_running_loop().time())
        except Exception as exc:
            self.stats.failures += 1
            log.error("audit record failed; answer withheld", extra={"fields": {"error": str(exc)}})
            raise GatewayError(
                503,
                "The audit log cannot record this request right now, so its answer was withheld. Retry shortly.",
                code="audit_unavailable",
            ) from None
        self.stats.recorded += 1

    async def record_refusal(self, call: Call, pending: Pending) -> None:
        try:
            await self._record(call, pending, asyncio.get_running_loop().time())
        except Exception as exc:
            self.stats.failures += 1
            log.error("audit record of a refusal failed", extra={"fields": {"error": str(exc)}})
            return
        self.stats.refusals += 1

    async def refused(self, request, api: str, principal: Any, exc: GatewayError) -> None:
        await refused(self, request, api, principal, exc)

    def record_later(self, call: Call, pending: Pending) -> None:
        pending.recorded = True
        if not call.status:
            call.status = 499  # the client went away before an answer
        task = asyncio.get_running_loop().create_task(self._record_late(call, pending))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _record_late(self, call: Call, pending: Pending) -> None:
        try:
            await self._record(call, pending, call.ended_at or asyncio.get_running_loop().time())
        except Exception as exc:
            self.stats.failures += 1
            log.error("audit record failed", extra={"fields": {"error": str(exc)}})
            return
        self.stats.recorded_late += 1

    async def _record(self, call: Call, pending: Pending, ended: float) -> None:
        loop_now = asyncio.get_running_loop().time()
        started_wall = (
            self.clock() - (loop_now - call.request.started) if call.request.started else self.clock()
        )
        sealed = content_key = None
        if pending.mode != "none":
            tenant = getattr(call.principal, "tenant", None) or "-"
            content_key, key = await self.keyring.key_for(tenant, pending.subject)
            sealed = seal(key, self._content(call, pending), content_context(pending.request_id, content_key))
            self.stats.sealed += 1
            self.stats.truncated += pending.truncated
        meta = describe(
            call,
            request_id=pending.request_id,
            subject=pending.subject,
            started_wall=started_wall,
            ended=ended,
            backends=self.backends,
            content_mode=pending.mode,
            content_key=content_key,
        )
        await self.writer.commit(record_bytes(meta, bool(call.notes)), sealed)

    @staticmethod
    def _content(call: Call, pending: Pending) -> bytes:
        if pending.mode == "full":
            try:
                payload = orjson.loads(call.request.body)
            except orjson.JSONDecodeError:
                payload = {}
        else:
            payload = call.payload
        answer = b"".join(pending.answer)
        return orjson.dumps(
            {
                "prompt": prompt_of(payload) if isinstance(payload, dict) else None,
                "completion": completion_text(answer, call.stream),
                "truncated": pending.truncated,
            }
        )

    async def aclose(self) -> None:
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
        await self.writer.aclose()
        await self.store.aclose()
