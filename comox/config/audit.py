"""Config of the audit log: where records go, how much content they keep, and the keys.

Secrets (the master key that wraps content keys, the checkpoint HMAC key) never live in
this file: it names where to read them (a file, else an environment variable), so the
config can be shared and committed without them.
"""

from typing import Any, Literal

from pydantic import Field, field_validator

from comox.config.section import _Section, fail
from comox.config.tenancy import check_store_url

ContentMode = Literal["none", "redacted", "full"]


class AuditConfig(_Section):
    """One record per request to the inference API, hash-chained, content encrypted."""

    enabled: bool = False
    """Off by default: an embedded quick start writes nothing it was not asked to."""
    store: str = "sqlite:///comox-data/audit.db"
    """sqlite:///path (its own file, synchronous=FULL) or postgres://user@host/db[?schema=name]."""
    content: ContentMode = "none"
    """Prompt and completion kept with the record: none, redacted (as forwarded to the
    backend, after the redaction stage) or full (as the client sent and received it)."""
    content_by_tenant: dict[str, ContentMode] = Field(default_factory=dict)
    """Per-tenant override of `content`."""
    content_by_class: dict[str, ContentMode] = Field(default_factory=dict)
    """Per-data-class override; wins over the tenant's and the default."""
    max_content_bytes: int = Field(256 * 1024, ge=1024)
    """Answer bytes captured per request at most; content beyond is cut and flagged."""
    master_key_file: str | None = None
    """File holding the 32-byte master key (raw, or base64 text) that wraps the content keys."""
    master_key_env: str = "COMOX_AUDIT_MASTER_KEY"
    """Environment variable with the master key in base64, used when no file is named."""
    checkpoint_key_file: str | None = None
    """File holding the HMAC key of signed checkpoints (any length >= 16 bytes, or base64)."""
    checkpoint_key_env: str = "COMOX_AUDIT_CHECKPOINT_KEY"
    """Environment variable with the checkpoint key, used when no file is named; without
    any, no checkpoints are written (the chain alone cannot show a truncated tail)."""
    checkpoint_every: int = Field(1000, ge=1)
    """A signed checkpoint after at most this many records..."""
    checkpoint_interval: float = Field(60.0, gt=0.0)
    """...or this many seconds, whichever comes first (checked at each commit)."""
    durability: Literal["commit", "handoff"] = "commit"
    """When an answer may complete: `commit` once its record is committed and fsynced (the
    strict default); `handoff` once the record is in the pipe to the audit writer process,
    which commits it within its next batch. Either way a kill -9 of the gateway loses no
    record of a completed answer (the writer outlives it and commits what it received); with
    `handoff` a crash of the writer process itself or of the machine can lose the records of
    the batch in flight (at most `max_pending`; logged and counted as lost)."""
    commit_window_ms: float = Field(0.0, ge=0.0, le=100.0)
    """How long the writer waits for more records before a commit; 0 commits as soon as
    the writer is free (records arriving meanwhile form the next batch)."""
    max_pending: int = Field(10000, ge=1)
    """Records waiting for a commit at most; further requests wait for room."""
    key_cache_ttl: float = Field(60.0, gt=0.0)
    """Seconds a worker keeps a subject's content key in memory; an erasure made elsewhere
    reaches a worker's cache within this."""
    jsonl: str | None = None
    """Also append every committed record (ciphertext only) and checkpoint to this JSON Lines
    file, fsynced before the answer completes, for shipping to a central log system."""
    tenant_api: bool = True
    """Tenants may read their own tenant's records (metadata only) with their API key at
    GET /v1/audit."""

    _check_store = field_validator("store", mode="before")(check_store_url)

    @field_validator("jsonl", "master_key_file", "checkpoint_key_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("master_key_env", "checkpoint_key_env", mode="before")
    @classmethod
    def _env_name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.replace("_", "").isalnum():
            raise fail("not an environment variable name", "a name such as COMOX_AUDIT_MASTER_KEY")
        return value

    def content_mode(self, tenant: str | None, data_class: str | None) -> ContentMode:
        """The content kept for a request: its data class's rule, else its tenant's, else the default."""
        if data_class is not None and data_class in self.content_by_class:
            return self.content_by_class[data_class]
        if tenant is not None and tenant in self.content_by_tenant:
            return self.content_by_tenant[tenant]
        return self.content

    @property
    def keeps_content(self) -> bool:
        modes = {self.content, *self.content_by_tenant.values(), *self.content_by_class.values()}
        return modes != {"none"}
