"""An agent's identity core: the persona, validated once and rendered into one system message.

The rendering is a pure function of the persona, so the same agent always opens every call
with the same bytes: the character cannot drift with the conversation, and engines with
prefix caching reuse the persona's KV cache across users.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from comox.server.errors import bad_request

MAX_TEXT = 20_000


class PersonaIn(BaseModel):
    """POST /v1/agents body; PATCH takes the same fields, all optional."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field("", max_length=MAX_TEXT)
    """What the agent is for and how it must behave (the system instructions)."""
    psychology: str = Field("", max_length=MAX_TEXT)
    """Temperament, values, motivations."""
    boundaries: str = Field("", max_length=MAX_TEXT)
    """What the agent will not do or say, whatever it is asked."""
    style: str = Field("", max_length=MAX_TEXT)
    """How it speaks: register, length, verbal habits."""
    examples: list[str] = Field(default_factory=list, max_length=50)
    """Example lines in the agent's voice."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class PersonaPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    instructions: str | None = Field(None, max_length=MAX_TEXT)
    psychology: str | None = Field(None, max_length=MAX_TEXT)
    boundaries: str | None = Field(None, max_length=MAX_TEXT)
    style: str | None = Field(None, max_length=MAX_TEXT)
    examples: list[str] | None = Field(None, max_length=50)
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    tenant: str
    name: str
    instructions: str = ""
    psychology: str = ""
    boundaries: str = ""
    style: str = ""
    examples: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["examples"] = list(self.examples)
        out["object"] = "agent"
        return out


def new_agent_id() -> str:
    return "agt_" + secrets.token_hex(12)


def _parse(model: type[BaseModel], body: dict) -> BaseModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise bad_request(f"Invalid agent field '{where}': {err['msg']}.", param=where) from None


def agent_from_body(body: dict, tenant: str, now: float) -> Agent:
    parsed = _parse(PersonaIn, body)
    fields = parsed.model_dump()
    fields["examples"] = tuple(fields["examples"])
    return Agent(id=new_agent_id(), tenant=tenant, created_at=now, updated_at=now, **fields)


def patched(agent: Agent, body: dict, now: float) -> Agent:
    changes = {k: v for k, v in _parse(PersonaPatch, body).model_dump().items() if v is not None}
    if "examples" in changes:
        changes["examples"] = tuple(changes["examples"])
    return replace(agent, **changes, updated_at=now)


def render(agent: Agent) -> str:
    """The persona as the system message every call of this agent starts with."""
    parts = [f"You are {agent.name}."]
    for title, text in (
        ("Instructions", agent.instructions),
        ("Psychology", agent.psychology),
        ("Boundaries (never cross these)", agent.boundaries),
        ("Speaking style", agent.style),
    ):
        if text.strip():
            parts.append(f"## {title}\n{text.strip()}")
    if agent.examples:
        lines = "\n".join(f"- {line}" for line in agent.examples)
        parts.append(f"## Example lines in your voice\n{lines}")
    return "\n\n".join(parts)
