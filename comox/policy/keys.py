"""API keys and the tenants that own them: key material, hashing, and the stored records.

A key is 32 random bytes (`ck-` + URL-safe base64), shown once and stored only as its
SHA-256. Keys are high-entropy, so a fast unsalted hash is right here: nothing can be
guessed from it, and a lookup by hash is a single dict access on the hot path. Slow
password hashes protect low-entropy secrets and would only cost latency.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Literal

PREFIX = "ck-"
BudgetPeriod = Literal["day", "month"]
PERIODS: tuple[str, ...] = ("day", "month")


def generate_key() -> str:
    """A new secret key; the caller shows it once and keeps only `hash_key(key)`."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str | bytes) -> str:
    data = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(data).hexdigest()


def new_key_id() -> str:
    """A public handle for a key (logs, usage, revocation); reveals nothing of the secret."""
    return "key_" + secrets.token_hex(8)


def same_secret(given: str | bytes, expected: str) -> bool:
    """Constant-time comparison, for secrets compared directly (the admin key)."""
    data = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(data, expected.encode())


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits and budget shared by keys and tenants; None means unlimited."""

    rpm: int | None = None
    """Requests per minute."""
    tpm: int | None = None
    """Tokens per minute, as reported by the engine."""
    token_budget: int | None = None
    """Tokens per budget period."""
    budget_period: BudgetPeriod = "month"
    """Calendar period of the budget, in UTC."""


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    created_at: float
    limits: Limits = Limits()
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the gateway knows about a key; `hash` is hidden from repr so it stays out of logs."""

    id: str
    tenant: str
    hash: str = field(repr=False)
    created_at: float
    name: str = ""
    expires_at: float | None = None
    revoked_at: float | None = None
    models: tuple[str, ...] = ("*",)
    """Glob patterns (fnmatch, case-sensitive) of the public models this key may use."""
    data_class: str | None = None
    """Default data class of this key's requests, for residency policy."""
    allow_cloud: bool = True
    max_tokens: int | None = None
    """Cap on max_tokens per request; requests that set none get the cap."""
    limits: Limits = Limits()
    metadata: dict = field(default_factory=dict)

    def public(self) -> dict:
        """The record as the admin API and CLI show it: never the hash."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "models": list(self.models),
            "data_class": self.data_class,
            "allow_cloud": self.allow_cloud,
            "max_tokens": self.max_tokens,
            "rpm": self.limits.rpm,
            "tpm": self.limits.tpm,
            "token_budget": self.limits.token_budget,
            "budget_period": self.limits.budget_period,
            "metadata": self.metadata,
        }


def tenant_public(tenant: Tenant) -> dict:
    return {
        "name": tenant.name,
        "created_at": tenant.created_at,
        "rpm": tenant.limits.rpm,
        "tpm": tenant.limits.tpm,
        "token_budget": tenant.limits.token_budget,
        "budget_period": tenant.limits.budget_period,
        "metadata": tenant.metadata,
    }
