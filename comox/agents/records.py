"""The rows agents memory is made of, shared by the store, the index, the jobs and the API."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("fact", "turn", "digest", "note")
"""fact: extracted by the model; turn: a past exchange, verbatim; digest: old turns or facts
compressed by consolidation; note: added through the API."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose memory: everything the agents store keeps is keyed by all three, and no query
    ever runs without all three (tenant isolation and user isolation in one place)."""

    tenant: str
    agent: str
    user: str


@dataclass(frozen=True, slots=True)
class Memory:
    id: int
    kind: str
    text: str
    importance: float
    created_at: float
    source_turn: int | None = None
    """Id of the (user) turn it came from."""
    valid_to: float | None = None
    """When it stopped being true (superseded by a newer fact); None while current."""
    stale: bool = False
    """A past turn that stated a fact since superseded."""
    hits: int = 0
    last_used: float | None = None
    category: str = ""

    def public(self) -> dict:
        return {
            "id": self.id,
            "object": "memory",
            "kind": self.kind,
            "text": self.text,
            "importance": self.importance,
            "category": self.category,
            "created_at": self.created_at,
            "source_turn": self.source_turn,
            "valid_to": self.valid_to,
            "current": self.valid_to is None and not self.stale,
            "hits": self.hits,
            "last_used": self.last_used,
        }


@dataclass(frozen=True, slots=True)
class Edge:
    """A relation between two entities, true from `valid_from` until `valid_to` (None: now)."""

    id: int
    subject: str
    relation: str
    object: str
    valid_from: float
    valid_to: float | None = None
    memory: int | None = None
    """The fact it was extracted with."""

    def describe(self) -> str:
        return f"{self.subject} {self.relation.replace('_', ' ')} {self.object}"

    def public(self) -> dict:
        return {
            "id": self.id,
            "subject": self.subject,
            "relation": self.relation,
            "object": self.object,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "memory": self.memory,
        }
