"""Config of tenancy and governance: key refresh, usage flushing, defaults of new keys."""

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from comox.config.section import _Section, fail


class KeyDefaults(_Section):
    """Policy given to keys created without saying otherwise (admin API and CLI)."""

    models: tuple[str, ...] = ("*",)
    """Glob patterns of the models a new key may use."""
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    token_budget: int | None = Field(None, ge=1)
    budget_period: Literal["day", "month"] = "month"
    max_tokens: int | None = Field(None, ge=1)
    allow_cloud: bool = True
    data_class: str | None = None


class TenancyConfig(_Section):
    """How workers follow the store: key table refresh and usage flushing."""

    key_refresh_interval: float = Field(0.5, gt=0.0, le=60.0)
    """Seconds between checks of the store's change counter; a revoked key stops working on
    every worker within this (plus one query)."""
    usage_flush_interval: float = Field(1.0, gt=0.0, le=300.0)
    """Seconds between writes of buffered usage to the store; a crash loses at most this much."""
    usage_max_pending: int = Field(10000, ge=1)
    """Distinct (day, key, model, backend) rows buffered at most while the store is down;
    usage beyond it is dropped and counted in the stats."""
    redis_prefix: str = Field("comox:", min_length=1)
    """Prefix of every Redis key the gateway writes."""
    key_defaults: KeyDefaults = KeyDefaults()


def check_store_url(value: Any) -> Any:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("sqlite", "postgres", "postgresql"):
        raise fail(
            "unsupported store",
            "sqlite:///path/comox.db or postgres://user@host:5432/db",
            show_got=False,
        )
    return value


def check_limits_url(value: Any) -> Any:
    if value != "memory" and (
        not isinstance(value, str) or urlsplit(value).scheme not in ("redis", "rediss")
    ):
        raise fail("unsupported limits backend", "memory or redis://host:6379/0", show_got=False)
    return value
