"""The swap decisions, without processes: LRU eviction under a count or memory budget."""

from comox.managed.decide import Budget, Loaded, idle_victims, plan_load


def test_room_left_means_no_eviction():
    assert plan_load(0, [], Budget(max_loaded=1)) == []
    assert plan_load(0, [Loaded("a", 1.0, False)], Budget()) == []


def test_full_budget_evicts_the_least_recently_used_idle_model():
    loaded = [Loaded("a", 5.0, False), Loaded("b", 1.0, False), Loaded("c", 3.0, False)]
    assert plan_load(0, loaded, Budget(max_loaded=3)) == ["b"]
    assert plan_load(0, loaded, Budget(max_loaded=1)) == ["b", "c", "a"]


def test_busy_models_are_never_evicted():
    loaded = [Loaded("a", 1.0, True), Loaded("b", 2.0, False)]
    assert plan_load(0, loaded, Budget(max_loaded=2)) == ["b"]
    assert plan_load(0, [Loaded("a", 1.0, True)], Budget(max_loaded=1)) is None  # wait for it


def test_memory_budget_evicts_until_the_new_model_fits():
    loaded = [Loaded("a", 1.0, False, 10.0), Loaded("b", 2.0, False, 6.0)]
    assert plan_load(4.0, loaded, Budget(memory=20.0)) == []
    assert plan_load(8.0, loaded, Budget(memory=20.0)) == ["a"]
    assert plan_load(16.0, loaded, Budget(memory=20.0)) == ["a", "b"]
    assert plan_load(30.0, [], Budget(memory=20.0)) is None  # never fits


def test_idle_models_are_unloaded_after_their_time():
    loaded = [Loaded("a", 0.0, False), Loaded("b", 0.0, True), Loaded("c", 90.0, False)]
    assert idle_victims(loaded, 100.0, 60.0) == ["a"]
    assert idle_victims(loaded, 100.0, None) == []
