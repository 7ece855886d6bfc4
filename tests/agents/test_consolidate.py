import asyncio

import numpy as np

from comox.agents import sql_memory
from comox.agents.consolidate import DAY, Consolidator, chunks, plan_merges
from comox.agents.embed import HashedEmbedder
from comox.agents.memory import AgentMemory
from comox.agents.records import Memory, Scope
from comox.agents.sql_memory import NewMemory
from comox.agents.store import store_from_url
from comox.config.agents import AgentsConfig


def test_near_duplicates_merge_into_the_newest_with_the_best_importance():
    v = np.asarray([[1, 0], [0.999, 0.04], [0, 1], [1, 0.01]], np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    (merge,) = plan_merges([10, 11, 12, 13], v, [0.9, 0.2, 0.5, 0.1], 0.99)
    assert merge.keep == 13 and set(merge.drop) == {10, 11} and merge.importance == 0.9


def test_only_full_chunks_are_compressed():
    mems = [Memory(i, "turn", "t", 0.3, 0.0) for i in range(25)]
    assert [len(c) for c in chunks(mems, 10)] == [10, 10]


def test_a_pass_merges_duplicate_facts_and_compresses_old_unused_turns_in_the_store(agents_url):
    scope, now = Scope("acme", "agt_1", "alice"), 100 * DAY
    emb = HashedEmbedder()

    def memory(kind, text, importance, at):
        vector = emb.vector(text)
        return NewMemory(kind, text, vector / np.linalg.norm(vector), importance, at)

    async def main():
        store = store_from_url(agents_url)
        await store.open()
        config = AgentsConfig(embedding="hashed")
        mem = AgentMemory(config, store, emb)
        try:
            old, dup, _ = await mem.remember(scope, [
                memory("fact", "The user lives in Lyon.", 0.9, now - DAY),
                memory("fact", "The user lives in Lyon.", 0.4, now - DAY),
                memory("fact", "The user plays the violin.", 0.5, now - DAY),
            ])  # fmt: skip
            await store.call(sql_memory.touch, scope, [old, dup], now)
            await mem.remember(
                scope, [memory("turn", f"User: message {i}", 0.3, now - 40 * DAY) for i in range(12)]
            )
            await Consolidator(config, mem, None, lambda: now).run()

            left = await store.call(sql_memory.list_memories, scope, None, 100, 0)
            facts = {m.text: m for m in left if m.kind == "fact"}
            assert set(facts) == {"The user lives in Lyon.", "The user plays the violin."}
            assert facts["The user lives in Lyon."].id == dup  # the newest is kept...
            assert facts["The user lives in Lyon."].importance == 0.9  # ...with the best importance
            assert facts["The user lives in Lyon."].hits == 2  # and the hits of both
            (digest,) = [m for m in left if m.kind == "digest"]
            assert digest.text.splitlines() == [f"User: message {i}" for i in range(10)]
            assert sum(m.kind == "turn" for m in left) == 2  # a partial chunk waits
        finally:
            await store.aclose()

    asyncio.run(main())
