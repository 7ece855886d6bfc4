"""Consolidation: keep long-term memory small as it grows. Planning is pure; `Consolidator`
runs it for every user on the background queue.

- Duplicate facts (cosine at least `duplicate_similarity`, both current) merge into the
  newest: it keeps the best importance and the hits of all.
- Past turns older than `compress_after_days` that no prompt ever used are compressed, a
  chunk of `DIGEST_CHUNK` at a time, into one digest memory (written by the summary model
  when one is configured, else their first lines): one retrieval slot instead of ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from comox.agents import sql_memory, summary
from comox.agents.client import ModelClient
from comox.agents.memory import AgentMemory
from comox.agents.records import Memory, Scope
from comox.agents.retrieve import TURN_IMPORTANCE
from comox.agents.window import Turn
from comox.config.agents import AgentsConfig

DIGEST_CHUNK = 10
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Merge:
    keep: int
    drop: tuple[int, ...]
    importance: float


def plan_merges(
    ids: Sequence[int], vectors: np.ndarray, importance: Sequence[float], threshold: float
) -> list[Merge]:
    """Groups of near-identical memories, each kept as its newest member (highest id)."""
    if len(ids) < 2:
        return []
    sims = vectors @ vectors.T
    merged: set[int] = set()
    plans = []
    for i in range(len(ids) - 1, -1, -1):  # newest first: it is the one kept
        if i in merged:
            continue
        group = [j for j in np.flatnonzero(sims[i, :i] >= threshold) if j not in merged]
        if group:
            merged.update(group)
            best = max(importance[k] for k in (i, *group))
            plans.append(Merge(int(ids[i]), tuple(int(ids[j]) for j in group), float(best)))
    return plans


def chunks(memories: Sequence[Memory], size: int = DIGEST_CHUNK) -> list[list[Memory]]:
    """Full chunks only: a partial one waits until it fills."""
    return [list(memories[i : i + size]) for i in range(0, len(memories) - size + 1, size)]


def plain_digest(memories: Sequence[Memory], limit: int = 160) -> str:
    return "\n".join(m.text.replace("\n", " / ")[:limit] for m in memories)


@dataclass(slots=True)
class ConsolidationStats:
    runs: int = 0
    merged: int = 0
    compressed: int = 0


class Consolidator:
    def __init__(self, config: AgentsConfig, memory: AgentMemory, client: ModelClient, clock) -> None:
        self.config = config
        self.memory = memory
        self.client = client
        self.clock = clock
        self.stats = ConsolidationStats()

    async def run(self) -> None:
        for scope in await self.memory.store.call(sql_memory.scopes):
            await self.scope(scope)
        self.stats.runs += 1

    async def scope(self, scope: Scope) -> None:
        store = self.memory.store
        rows = await store.call(sql_memory.fact_vectors, scope)
        if len(rows) > 1:
            vectors = np.stack([np.frombuffer(r[1], np.float32) for r in rows])
            for plan in plan_merges(
                [r[0] for r in rows], vectors, [r[3] for r in rows], self.config.duplicate_similarity
            ):
                await store.call(sql_memory.merge, scope, plan.keep, plan.drop, plan.importance)
                self.stats.merged += len(plan.drop)
        before = self.clock() - self.config.compress_after_days * DAY
        for chunk in chunks(await store.call(sql_memory.unused_turns, scope, before)):
            text = await self._digest(chunk)
            items = await self.memory.embed_new(
                [("digest", text)], [TURN_IMPORTANCE], chunk[-1].created_at, chunk[-1].source_turn
            )
            await self.memory.remember(scope, items)
            await store.call(sql_memory.delete_memories, scope, [m.id for m in chunk])
            self.stats.compressed += len(chunk)
        self.memory.index.drop(scope)

    async def _digest(self, chunk: list[Memory]) -> str:
        model = self.config.summary_model
        if model:
            turns = [Turn(m.id, "user", m.text, m.created_at) for m in chunk]
            body = summary.request_body(model, "", turns, self.config.summary_max_tokens)
            try:
                text = summary.clean(await self.client.chat(body), self.config.summary_max_tokens * 4)
            except Exception:  # the model is down: the plain digest still shrinks memory
                text = ""
            if text:
                return text
        return plain_digest(chunk)
