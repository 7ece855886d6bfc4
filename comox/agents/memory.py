"""One worker's agent memory: the store, the in-process index and the embedder together.

Reads for a new message (`context`) take three trips off the event loop, two of them in
parallel: the store (recent turns, summary, index version) with the query's embedding, then
the chosen memories and the current relations. Scoring runs on the loop in numpy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from comox.agents import graph, retrieve, sql_agents, sql_memory
from comox.agents.db import Db
from comox.agents.embed import Embedder
from comox.agents.extract import Fact
from comox.agents.index import IndexCache, columns_from_rows
from comox.agents.records import Edge, Memory, Scope
from comox.agents.retrieve import Columns, Weights
from comox.agents.sql_memory import NewMemory
from comox.agents.store import AgentStore
from comox.agents.window import Turn
from comox.config.agents import AgentsConfig

NO_WINDOW = 2**62


@dataclass(frozen=True, slots=True)
class Context:
    recent: list[Turn]
    summary: str
    memories: list[Memory]
    edges: list[Edge]


async def _details(db: Db, scope: Scope, ids: list[int], want_edges: bool) -> tuple[list[Memory], list[Edge]]:
    edges = await sql_memory.current_edges(db, scope) if want_edges else []
    return await sql_memory.get_memories(db, scope, ids), edges


class AgentMemory:
    def __init__(self, config: AgentsConfig, store: AgentStore, embedder: Embedder) -> None:
        self.config = config
        self.store = store
        self.embedder = embedder
        self.index = IndexCache()
        self.weights = Weights.of(config.retrieval)

    async def columns(self, scope: Scope, version: int) -> Columns:
        cols = self.index.get(scope, version)
        if cols is None:
            rows, version = await self.store.call(sql_memory.index_rows, scope)
            cols = self.index.put(scope, version, rows)
        return cols

    async def context(self, scope: Scope, text: str, now: float) -> Context:
        r = self.config.retrieval
        rows = self.store.call(sql_agents.context_rows, scope, self.config.window_turns)
        if r.top_k and text:
            (recent, summary, version), query = await asyncio.gather(rows, self.embedder.embed([text], True))
        else:
            (recent, summary, version), query = await rows, None
        ids: list[int] = []
        if query is not None:
            cols = await self.columns(scope, version)
            if len(cols.ids) and cols.vectors.shape[1] == query.shape[1]:
                start = recent[0].id if recent else NO_WINDOW
                score = retrieve.scores(cols, query[0], now, self.weights, start)
                ids = [int(cols.ids[i]) for i in retrieve.top(score, r.top_k)]
        want_edges = r.graph and r.graph_edges > 0 and bool(text)
        memories, edges = await self.store.call(_details, scope, ids, want_edges)
        memories = list({m.text: m for m in reversed(memories)}.values())[::-1]  # same words once
        if edges:
            named = graph.mentioned(text, {e.subject for e in edges} | {e.object for e in edges})
            edges = graph.neighbours(edges, named, r.graph_edges, text)
        return Context(recent, summary, memories, edges)

    async def remember(self, scope: Scope, items: Sequence[NewMemory]) -> list[int | None]:
        """Store memories whose `vector` is set, and put them in this worker's index; None
        for a memory whose source turn was erased meanwhile."""
        if not items:
            return []
        ids, version = await self.store.call(sql_memory.add_memories, scope, items)
        rows = [
            (i, np.asarray(m.vector, np.float32).tobytes(), m.created_at, m.importance, True, False,
             m.source_turn if m.kind == "turn" and m.source_turn is not None else -1)
            for i, m in zip(ids, items, strict=True)
            if i is not None
        ]  # fmt: skip
        self.index.add(scope, version, rows)
        return ids

    async def embed_new(
        self, kinds_texts: Sequence[tuple[str, str]], importance: Sequence[float], at: float,
        source_turn: int | None, categories: Sequence[str] | None = None,
    ) -> list[NewMemory]:  # fmt: skip
        vectors = await self.embedder.embed([t for _, t in kinds_texts])
        cats = categories or [""] * len(kinds_texts)
        return [
            NewMemory(kind, text, vectors[i], importance[i], at, source_turn, cats[i])
            for i, (kind, text) in enumerate(kinds_texts)
        ]

    async def learn(self, scope: Scope, facts: Sequence[Fact], source_turn: int | None, at: float) -> int:
        """Store extracted facts and apply their relations to the graph; facts stated before
        and still current are not stored twice. The number of new facts."""
        if not facts:
            return 0
        current = await self.store.call(sql_memory.current_edges, scope)
        known = {(e.subject, e.relation, e.object) for e in current}
        fresh = [
            f
            for f in facts
            if f.edge is None or (f.edge.subject, f.edge.relation, f.edge.object) not in known
        ]
        items = await self.embed_new(
            [("fact", f.text) for f in fresh], [f.importance for f in fresh], at, source_turn,
            [f.category for f in fresh],
        )  # fmt: skip
        ids = await self.remember(scope, items)
        changed = False
        for fact, memory_id in zip(fresh, ids, strict=True):
            if fact.edge is None or memory_id is None:
                continue
            plan = graph.plan_upsert(current, fact.edge, self.config.exclusive_relations)
            new = (fact.edge.subject, fact.edge.relation, fact.edge.object) if plan.insert else None
            await self.store.call(sql_memory.apply_edge, scope, plan.close, new, memory_id, at)
            changed = changed or bool(plan.close)
            current = await self.store.call(sql_memory.current_edges, scope)
        if changed:
            self.index.drop(scope)  # facts superseded, turns marked stale: reload on next use
        return sum(i is not None for i in ids)

    async def search(self, scope: Scope, text: str, k: int, now: float) -> list[tuple[Memory, float]]:
        """The API's search: the same scoring as prompts get, with past turns in the window
        included (the caller asked for them explicitly)."""
        query = await self.embedder.embed([text], True)
        version = await self.store.call(sql_memory.version, scope)
        cols = await self.columns(scope, version)
        if not len(cols.ids) or cols.vectors.shape[1] != query.shape[1]:
            return []
        score = retrieve.scores(cols, query[0], now, self.weights, NO_WINDOW)
        picks = retrieve.top(score, k)
        ids = [int(cols.ids[i]) for i in picks]
        memories = await self.store.call(sql_memory.get_memories, scope, ids)
        by_id = {int(cols.ids[i]): float(score[i]) for i in picks}
        return [(m, by_id[m.id]) for m in memories]

    async def reload(self, scope: Scope) -> Columns:
        rows, version = await self.store.call(sql_memory.index_rows, scope)
        return self.index.put(scope, version, rows) if rows else columns_from_rows([])
