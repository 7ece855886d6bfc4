from comox.agents.graph import NewEdge, entity, mentioned, neighbours, plan_upsert, relation
from comox.agents.records import Edge
from comox.config.agents import DEFAULT_EXCLUSIVE


def edge(i, s, r, o, t=0.0, to=None):
    return Edge(i, s, r, o, t, to)


def test_now_enemies_closes_friends_in_either_direction():
    current = [edge(1, "user", "friend_of", "bob"), edge(2, "user", "likes", "tea")]
    plan = plan_upsert(current, NewEdge("bob", "enemy_of", "user"), DEFAULT_EXCLUSIVE)
    assert plan.close == (1,) and plan.insert


def test_single_valued_relation_replaces_the_old_object_only():
    current = [edge(1, "user", "lives_in", "paris"), edge(2, "anna", "lives_in", "lyon")]
    plan = plan_upsert(current, NewEdge("user", "lives_in", "berlin", single=True), DEFAULT_EXCLUSIVE)
    assert plan.close == (1,)


def test_many_valued_relation_keeps_both():
    plan = plan_upsert(
        [edge(1, "user", "likes", "tea")], NewEdge("user", "likes", "coffee"), DEFAULT_EXCLUSIVE
    )
    assert plan.close == () and plan.insert


def test_a_relation_already_current_is_not_inserted_twice():
    plan = plan_upsert([edge(1, "user", "likes", "tea")], NewEdge("user", "likes", "tea"), DEFAULT_EXCLUSIVE)
    assert plan == plan.__class__((), False)


def test_closed_edges_are_left_alone():
    current = [edge(1, "user", "friend_of", "bob", to=5.0)]
    assert plan_upsert(current, NewEdge("user", "enemy_of", "bob"), DEFAULT_EXCLUSIVE).close == ()


def test_names_are_canonical_and_mentions_are_whole_words():
    assert entity("  Bob  Smith ") == "bob smith" and relation("Friend of") == "friend_of"
    assert mentioned("How is Bob Smith doing?", ["bob smith", "bo", "anna"]) == ["bob smith"]


def test_neighbours_are_current_edges_of_named_entities_newest_first():
    edges = [
        edge(1, "user", "friend_of", "bob", 1),
        edge(2, "bob", "lives_in", "rome", 2),
        edge(3, "x", "y", "z", 3),
    ]
    edges.append(edge(4, "bob", "likes", "jazz", 4, to=5))
    assert [e.id for e in neighbours(edges, ["bob"], 5)] == [2, 1]


def test_speaking_of_oneself_names_the_user_entity():
    assert mentioned("Where do I live now?", ["user", "paris"]) == ["user"]
    assert mentioned("Where does Bob live?", ["user", "bob"]) == ["bob"]


def test_neighbours_sharing_words_with_the_message_come_first():
    edges = [edge(1, "user", "lives_in", "porto", 1), edge(2, "user", "hobby", "chess", 2)]
    assert [e.id for e in neighbours(edges, ["user"], 5, "Where do I live?")] == [1, 2]
