import asyncio

import numpy as np

from comox.agents import sql_agents, sql_memory
from comox.agents.embed import HashedEmbedder
from comox.agents.extract import Fact
from comox.agents.graph import NewEdge
from comox.agents.memory import AgentMemory
from comox.agents.records import Scope
from comox.agents.sql_memory import NewMemory
from comox.agents.store import store_from_url
from comox.config.agents import AgentsConfig

A = Scope("acme", "agt_1", "alice")
B = Scope("acme", "agt_1", "bob")
OTHER_TENANT = Scope("globex", "agt_1", "alice")


def run(url, body):
    async def main():
        store = store_from_url(url)
        await store.open()
        memory = AgentMemory(AgentsConfig(embedding="hashed"), store, HashedEmbedder())
        try:
            await body(memory, store)
        finally:
            await store.aclose()

    asyncio.run(main())


def note(text, at=0.0):
    return NewMemory("note", text, HashedEmbedder().vector(text) / 3.0, 0.5, at)


def test_a_users_memories_never_reach_another_user_or_tenant(agents_url):
    async def body(memory, store):
        await memory.remember(A, [note("alice is allergic to peanuts")])
        await memory.remember(B, [note("bob plays the cello")])
        for scope in (B, OTHER_TENANT):
            ctx = await memory.context(scope, "allergic to peanuts", 1.0)
            assert all("alice" not in m.text for m in ctx.memories)
        ctx = await memory.context(A, "allergic to peanuts", 1.0)
        assert [m.text for m in ctx.memories][:1] == ["alice is allergic to peanuts"]

    run(agents_url, body)


def test_a_contradicting_fact_supersedes_the_old_one_and_marks_its_turn_stale(agents_url):
    async def body(memory, store):
        await store.call(sql_agents.add_turns, A, [("user", "t1"), ("assistant", "a1"), ("user", "t3")], 0.0)
        (turn,) = await memory.remember(
            A, [NewMemory("turn", "User: Bob and I are friends", np.ones(512) / 22.6, 0.3, 0.0, 1)]
        )
        friends = Fact(
            "The user and Bob are friends.", "relationship", 0.9, NewEdge("user", "friend_of", "bob")
        )
        enemies = Fact(
            "The user and Bob are now enemies.", "relationship", 0.9, NewEdge("bob", "enemy_of", "user")
        )
        assert await memory.learn(A, [friends], 1, 10.0) == 1
        assert await memory.learn(A, [friends], 1, 11.0) == 0  # known and current: not stored twice
        await memory.learn(A, [enemies], 3, 20.0)
        edges = await store.call(sql_memory.all_edges, A)
        assert [(e.relation, e.valid_to) for e in edges] == [("friend_of", 20.0), ("enemy_of", None)]
        ctx = await memory.context(A, "how are bob and I", 30.0)
        texts = [m.text for m in ctx.memories]
        assert "The user and Bob are now enemies." in texts and "The user and Bob are friends." not in texts
        assert [e.relation for e in ctx.edges] == ["enemy_of"]
        (old_turn,) = await store.call(sql_memory.get_memories, A, [turn])
        assert old_turn.stale

    run(agents_url, body)


def test_erasing_a_user_removes_turns_summary_memories_and_edges_of_every_agent(agents_url):
    async def body(memory, store):
        other_agent = Scope("acme", "agt_2", "alice")
        for scope in (A, other_agent, B):
            await store.call(sql_agents.add_turns, scope, [("user", "hi"), ("assistant", "hello")], 1.0)
            await store.call(sql_agents.put_summary, scope, "they greeted", 2, 1.0)
            await memory.learn(
                scope, [Fact("x likes y", "preference", 0.5, NewEdge("x", "likes", "y"))], 1, 1.0
            )
        erased = await store.call(sql_memory.erase_user, "alice", "acme")
        assert {s.agent for s in erased} == {"agt_1", "agt_2"}
        for scope in (A, other_agent):
            assert await store.call(sql_agents.count_turns, scope) == 0
            assert await store.call(sql_agents.get_summary, scope) == ("", 0)
            assert await store.call(sql_memory.list_memories, scope, None, 10, 0) == []
            assert await store.call(sql_memory.all_edges, scope) == []
        assert await store.call(sql_agents.count_turns, B) == 2

    run(agents_url, body)


def test_the_index_follows_additions_and_reloads_after_other_changes(agents_url):
    async def body(memory, store):
        await memory.context(A, "warm the cache", 0.0)
        await memory.remember(A, [note("first"), note("second")])
        assert memory.index.stats.appends == 1
        (first, *_) = await store.call(sql_memory.list_memories, A, None, 10, 0)
        await store.call(sql_memory.delete_memories, A, [first.id])  # as another worker would
        ctx = await memory.context(A, "first second", 0.0)
        assert [m.text for m in ctx.memories] == ["second"]

    run(agents_url, body)


def test_the_audit_cli_erasure_reaches_agent_memory(agents_url):
    from comox.agents.erase import erase_user

    async def body(memory, store):
        await store.call(sql_agents.add_turns, A, [("user", "hi")], 1.0)

    run(agents_url, body)
    config = AgentsConfig(embedding="hashed", store=agents_url)
    assert asyncio.run(erase_user(config, "alice", "acme")) == [A]


def test_a_job_that_waited_while_its_user_was_erased_stores_nothing(agents_url):
    async def body(memory, store):
        (turn,) = await store.call(sql_agents.add_turns, A, [("user", "I live in Paris")], 1.0)
        await store.call(sql_memory.erase_user, "alice", None)
        fact = Fact("The user lives in Paris.", "place", 0.8, NewEdge("user", "lives_in", "paris"))
        assert await memory.learn(A, [fact], turn.id, 2.0) == 0
        await store.call(sql_agents.put_summary, A, "lives in Paris", turn.id, 2.0)
        assert await store.call(sql_memory.list_memories, A, None, 10, 0) == []
        assert await store.call(sql_memory.all_edges, A) == []
        assert await store.call(sql_agents.get_summary, A) == ("", 0)

    run(agents_url, body)


def test_two_workers_on_one_store_see_each_others_writes_and_erasures(agents_url):
    """Two workers (or replicas): each keeps its own in-process index, and reloads it after the
    other one's changes, erasure included."""

    async def main():
        one, two = store_from_url(agents_url), store_from_url(agents_url)
        await one.open()
        await two.open()
        config = AgentsConfig(embedding="hashed")
        first, second = AgentMemory(config, one, HashedEmbedder()), AgentMemory(config, two, HashedEmbedder())
        try:
            await first.remember(A, [note("alice is allergic to peanuts")])
            ctx = await second.context(A, "allergic to peanuts", 1.0)
            assert [m.text for m in ctx.memories] == ["alice is allergic to peanuts"]
            await first.remember(A, [note("alice plays the cello")])
            ctx = await second.context(A, "who plays the cello", 1.0)
            assert [m.text for m in ctx.memories][:1] == ["alice plays the cello"]
            await second.context(A, "warm the first worker's index", 1.0)
            await first.context(A, "warm the first worker's index", 1.0)

            assert await two.call(sql_memory.erase_user, "alice", "acme") == [A]
            for memory, store in ((first, one), (second, two)):
                ctx = await memory.context(A, "allergic to peanuts, plays the cello", 2.0)
                assert ctx.memories == [] and ctx.recent == []
                cached = memory.index.get(A, await store.call(sql_memory.version, A))
                assert cached is not None and len(cached.ids) == 0  # reloaded, not just filtered
            assert second.index.stats.loads == 3  # one load per change made by the other worker
        finally:
            await one.aclose()
            await two.aclose()

    asyncio.run(main())


def test_an_erasure_racing_another_workers_writes_leaves_nothing_of_the_user(agents_url):
    """A background job (memory, relation, summary) of one worker against an erasure by
    another, started together twenty times: whichever goes first, nothing of the user stays."""

    async def main():
        one, two = store_from_url(agents_url), store_from_url(agents_url)
        await one.open()
        await two.open()

        async def job(turn: int, i: int) -> None:
            fact = NewMemory("fact", f"The user lives in city {i}.", np.ones(512) / 22.6, 0.8, 2.0, turn)
            (memory,), _ = await two.call(sql_memory.add_memories, A, [fact])
            if memory is not None:  # as `AgentMemory.learn`: no relation for a fact not stored
                await two.call(sql_memory.apply_edge, A, [], ("user", "lives_in", f"city {i}"), memory, 2.0)
            await two.call(sql_agents.put_summary, A, "lives somewhere", turn, 2.0)

        try:
            for i in range(20):
                (turn,) = await one.call(sql_agents.add_turns, A, [("user", f"I live in city {i}")], 1.0)
                await asyncio.gather(job(turn.id, i), one.call(sql_memory.erase_user, "alice", None))
                assert await one.call(sql_memory.list_memories, A, None, 10, 0) == []
                assert await one.call(sql_memory.all_edges, A) == []
                assert await one.call(sql_agents.get_summary, A) == ("", 0)
                assert await one.call(sql_agents.count_turns, A) == 0
        finally:
            await one.aclose()
            await two.aclose()

    asyncio.run(main())
