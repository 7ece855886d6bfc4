from comox.agents.prompt import MEMORY_HEAD, SUMMARY_HEAD, assemble
from comox.agents.records import Edge, Memory
from comox.agents.window import Turn, fit_recent, message_tokens

PERSONA = "You are Mira.\n\n## Instructions\nBe kind."


def turns(n, size=40):
    return [
        Turn(i + 1, "user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * size, 0.0) for i in range(n)
    ]


def test_window_keeps_the_newest_turns_within_budget_and_never_starts_with_an_answer():
    kept = fit_recent(turns(10), 5, 10_000)
    assert [t.id for t in kept] == [7, 8, 9, 10]  # 6..10, minus the leading answer
    assert sum(t.tokens for t in fit_recent(turns(10), 10, 40)) <= 40


def test_persona_comes_first_unchanged_and_new_messages_last():
    new = [{"role": "user", "content": "hi"}]
    a = assemble(PERSONA, new, turns(4), [], [], "", 1000, 0.3, 10)
    assert a.messages[0] == {"role": "system", "content": PERSONA}
    assert a.messages[-1] == new[0] and a.turns == 4


def test_everything_fits_the_budget_and_memories_are_cut_before_the_persona():
    mems = [Memory(i, "fact", f"fact {i} " + "y" * 200, 0.5, 0.0) for i in range(50)]
    edges = [Edge(1, "user", "enemy_of", "bob", 0.0)]
    new = [{"role": "user", "content": "hello"}]
    a = assemble(PERSONA, new, turns(30, 200), mems, edges, "s" * 300, 600, 0.35, 30)
    assert a.tokens <= 600 and sum(message_tokens(m) for m in a.messages) == a.tokens
    assert a.messages[0]["content"] == PERSONA and 0 < len(a.memories) < 50
    assert MEMORY_HEAD in a.messages[1]["content"] and "user enemy of bob" in a.messages[1]["content"]
    assert SUMMARY_HEAD in a.messages[1]["content"]


def test_no_memory_message_when_there_is_nothing_to_remember():
    a = assemble(PERSONA, [{"role": "user", "content": "hi"}], [], [], [], "", 500, 0.3, 10)
    assert len(a.messages) == 2
