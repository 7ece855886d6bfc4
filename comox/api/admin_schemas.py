"""Bodies of the admin API, validated strictly: unknown fields and wrong types are 400s."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from comox.server.errors import bad_request

TENANT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LimitsIn(_Body):
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    token_budget: int | None = Field(None, ge=1)


class TenantIn(LimitsIn):
    name: str = Field(pattern=TENANT_NAME)
    budget_period: Literal["day", "month"] = "month"
    metadata: dict[str, str] = {}


class KeyIn(LimitsIn):
    tenant: str = Field(min_length=1)
    name: str = Field("", max_length=200)
    models: list[str] | None = Field(None, min_length=1)
    data_class: str | None = None
    allow_cloud: bool | None = None
    max_tokens: int | None = Field(None, ge=1)
    budget_period: Literal["day", "month"] | None = None
    expires_in: float | None = Field(None, gt=0)
    """Seconds from now until the key stops working."""
    metadata: dict[str, str] | None = None


def parse(model: type[_Body], payload: dict) -> _Body:
    """The validated body, or a 400 naming the first wrong field."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        message = err["msg"] if err["type"] != "extra_forbidden" else "unknown field"
        allowed = ", ".join(model.model_fields)
        raise bad_request(f"{field}: {message}; fields are {allowed}.", param=field) from None
