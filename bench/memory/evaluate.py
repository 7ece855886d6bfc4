"""Evaluate agent memory retrieval on the synthetic conversations of generate.py.

For each setting, every user's conversation is replayed into a fresh embedded store through
the same code the gateway runs (`AgentMemory.remember/learn/context`, `prompt.assemble`);
at each probe the retrieved context is checked for the current value of the attribute asked
about (recall@5, recall@10) and for earlier, superseded values (stale rate). Extraction is
an oracle: the generator's own structured fact for each planted statement, i.e. a perfect
extraction model; "raw turns" runs with no extraction at all.

    python bench/memory/generate.py > /tmp/conv.json
    python bench/memory/evaluate.py /tmp/conv.json [--embedding local|hashed]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: see comox/agents/__init__.py

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from comox.agents import sql_agents
from comox.agents.embed import HashedEmbedder, LocalEmbedder
from comox.agents.extract import Fact
from comox.agents.graph import NewEdge
from comox.agents.memory import AgentMemory
from comox.agents.persona import Agent, render
from comox.agents.prompt import assemble
from comox.agents.records import Scope
from comox.agents.retrieve import TURN_IMPORTANCE
from comox.agents.store_sqlite import SqliteAgentStore
from comox.agents.window import message_tokens
from comox.config.agents import AgentsConfig, RetrievalConfig

PERSONA = render(
    Agent("b", "t", "Mira", instructions="A warm companion who remembers what matters to the user.")
)
ANSWER = "Got it, thanks for telling me."


@dataclass(frozen=True)
class Setting:
    name: str
    retrieval: RetrievalConfig
    extraction: bool
    edges: bool


SETTINGS = [
    Setting("raw turns only (no extraction), vector", RetrievalConfig(top_k=10, recency=0, importance=0,
            graph=False, superseded_penalty=1.0), False, False),
    Setting("vector only", RetrievalConfig(top_k=10, recency=0, importance=0, graph=False,
            superseded_penalty=1.0), True, False),
    Setting("vector + recency/importance", RetrievalConfig(top_k=10, graph=False, superseded_penalty=1.0),
            True, False),
    Setting("vector + recency/importance + graph", RetrievalConfig(top_k=10), True, True),
]  # fmt: skip


class CachedEmbedder:
    """Embeds each distinct text once across all settings (the model is the slow part)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict[tuple[str, bool], np.ndarray] = {}
        self.seconds = 0.0
        self.count = 0

    async def start(self) -> None:
        await self.inner.start()

    async def prefill(self, texts: list[str], query: bool, batch: int = 32) -> None:
        todo = [t for t in dict.fromkeys(texts) if (t, query) not in self.cache]
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            started = time.perf_counter()
            vectors = await self.inner.embed(chunk, query)
            self.seconds += time.perf_counter() - started
            self.count += len(chunk)
            for text, vector in zip(chunk, vectors, strict=True):
                self.cache[(text, query)] = vector

    async def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        await self.prefill(texts, query)
        return np.stack([self.cache[(t, query)] for t in texts])

    def close(self) -> None:
        self.inner.close()


def turn_text(text: str) -> str:
    return f"User: {text}\nAssistant: {ANSWER}"


def holds(text: str, words: list[str]) -> bool:
    lowered = text.lower()
    return all(w.lower() in lowered for w in words)


async def run_setting(setting: Setting, data: dict, embedder: CachedEmbedder, workdir: Path) -> dict:
    store = SqliteAgentStore(str(workdir / f"{abs(hash(setting.name))}.db"))
    await store.open()
    config = AgentsConfig(embedding="hashed", window_turns=1, retrieval=setting.retrieval)
    memory = AgentMemory(config, store, embedder)
    hits = {5: 0, 10: 0}
    stale_probes = stale_hits = probes = 0
    tokens, full_tokens = [], []
    for conv in data["users"]:
        scope = Scope("bench", "agent", conv["user"])
        pending = list(conv["probes"])
        history_tokens = message_tokens({"content": PERSONA})
        for index, turn in enumerate(conv["turns"]):
            user_turn, answer = await store.call(
                sql_agents.add_turns, scope, [("user", turn["text"]), ("assistant", ANSWER)], turn["at"]
            )
            history_tokens += user_turn.tokens + answer.tokens
            items = await memory.embed_new(
                [("turn", turn_text(turn["text"]))], [TURN_IMPORTANCE], turn["at"], user_turn.id
            )
            await memory.remember(scope, items)
            fact = turn.get("fact")
            if fact and setting.extraction:
                edge = NewEdge(fact["subject"], fact["relation"], fact["object"].lower(), fact["single"])
                learnt = Fact(fact["text"], "other", fact["importance"], edge if setting.edges else None)
                await memory.learn(scope, [learnt], user_turn.id, turn["at"])
            while pending and pending[0]["after_turn"] == index + 1:
                probe = pending.pop(0)
                ctx = await memory.context(scope, probe["question"], probe["at"])
                ranked = [e.describe() for e in ctx.edges] + [m.text for m in ctx.memories]
                probes += 1
                for k in hits:
                    hits[k] += any(holds(t, probe["gold"]) for t in ranked[:k])
                if probe["stale"]:
                    stale_probes += 1
                    stale_hits += any(holds(t, words) for t in ranked[:10] for words in probe["stale"])
                recent = await store.call(sql_agents.recent_turns, scope, 12)
                question = [{"role": "user", "content": probe["question"]}]
                a = assemble(PERSONA, question, recent, ctx.memories, ctx.edges, "", 3000, 0.35, 12)
                tokens.append(a.tokens)
                full_tokens.append(history_tokens + message_tokens(question[0]))
    await store.aclose()
    return {
        "setting": setting.name,
        "probes": probes,
        "recall@5": hits[5] / probes,
        "recall@10": hits[10] / probes,
        "stale_rate": stale_hits / max(stale_probes, 1),
        "stale_probes": stale_probes,
        "prompt_tokens": statistics.mean(tokens),
        "full_history_tokens": statistics.mean(full_tokens),
    }


async def main(path: str, source: str) -> None:
    data = json.loads(Path(path).read_text())
    embedder = CachedEmbedder(LocalEmbedder() if source == "local" else HashedEmbedder())
    await embedder.start()
    texts = [turn_text(t["text"]) for c in data["users"] for t in c["turns"]]
    texts += [t["fact"]["text"] for c in data["users"] for t in c["turns"] if "fact" in t]
    await embedder.prefill(texts, False)
    await embedder.prefill([p["question"] for c in data["users"] for p in c["probes"]], True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for setting in SETTINGS:
            rows.append(await run_setting(setting, data, embedder, Path(tmp)))
    turns = sum(len(c["turns"]) for c in data["users"])
    print(f"{len(data['users'])} users, {turns} turns, {rows[0]['probes']} probes "
          f"({rows[0]['stale_probes']} after an update); embedding: {source}, "
          f"{embedder.count} texts in {embedder.seconds:.1f} s\n")  # fmt: skip
    print("| setting | recall@5 | recall@10 | stale rate | prompt tokens/turn | full history tokens/turn |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['recall@5']:.2f} | {r['recall@10']:.2f} | {r['stale_rate']:.2f} | "
              f"{r['prompt_tokens']:.0f} | {r['full_history_tokens']:.0f} |")  # fmt: skip
    embedder.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("conversations")
    parser.add_argument("--embedding", choices=("local", "hashed"), default="local")
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.embedding))
