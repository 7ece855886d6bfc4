import orjson

from comox.agents.extract import SCHEMA, parse, request_body

GOOD = {"facts": [{"text": "The user lives in Paris.", "category": "place", "importance": 0.8,
                   "subject": "User", "relation": "lives in", "object": "Paris", "single": True}]}  # fmt: skip


def test_a_valid_answer_gives_facts_with_canonical_edges():
    (fact,) = parse(orjson.dumps(GOOD).decode())
    assert fact.text == "The user lives in Paris." and fact.importance == 0.8
    assert (fact.edge.subject, fact.edge.relation, fact.edge.object, fact.edge.single) == (
        "user", "lives_in", "paris", True,
    )  # fmt: skip


def test_fences_and_chatter_around_the_json_are_tolerated():
    text = "Sure! Here you go:\n```json\n" + orjson.dumps(GOOD).decode() + "\n```\nAnything else?"
    assert len(parse(text)) == 1
    assert len(parse("Facts: " + orjson.dumps(GOOD["facts"]).decode() + " done")) == 1


def test_bad_output_yields_no_facts_never_an_error():
    for answer in ("", "echo: hello", "{", '{"facts": "none"}', "[1, 2]", '{"facts": [{"text": 3}]}', "null"):
        assert parse(answer) == []


def test_invalid_items_are_dropped_and_values_clamped():
    facts = parse(orjson.dumps({"facts": [
        {"text": "ok", "category": "weird", "importance": 7},
        {"category": "place"},
        {"text": "no edge", "importance": True, "subject": "a", "relation": "", "object": "b"},
        {"text": "ok", "importance": 0.1},
    ]}).decode())  # fmt: skip
    assert [(f.text, f.category, f.importance, f.edge) for f in facts] == [
        ("ok", "other", 0.1, None), ("no edge", "other", 0.5, None),
    ]  # fmt: skip


def test_request_asks_for_the_strict_schema():
    body = request_body("m", "I moved", "ok", ["user lives in paris"], 100)
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "user lives in paris" in body["messages"][1]["content"]
