from comox.cache.exact import CHAT, AnswerStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_ttl():
    clock = Clock()
    store = AnswerStore(10, ttl=60.0, clock=clock)
    store.put("k", b"answer", CHAT, "acme", "s")
    clock.now += 59.9
    assert store.get("k").body == b"answer"
    clock.now += 0.2
    assert store.get("k") is None and store.stats.expirations == 1 and len(store) == 0


def test_the_least_recently_used_entry_is_evicted_first():
    store = AnswerStore(2, ttl=60.0, clock=Clock())
    store.put("a", b"1", CHAT, "t", "s")
    store.put("b", b"2", CHAT, "t", "s")
    store.get("a")
    assert store.put("c", b"3", CHAT, "t", "s") == ["b"]
    assert "a" in store and "c" in store and store.stats.evictions == 1


def test_erasure_drops_a_subject_in_one_tenant_or_in_all_and_spares_later_entries():
    clock = Clock()
    store = AnswerStore(10, ttl=600.0, clock=clock)
    store.put("a", b"1", CHAT, "t1", "jane")
    store.put("b", b"2", CHAT, "t2", "jane")
    store.put("c", b"3", CHAT, "t1", "john")
    assert store.erase("jane", "t1") == ["a"]
    clock.now += 5
    store.put("d", b"4", CHAT, "t1", "jane")
    assert sorted(store.erase("jane", None, before=clock.now - 1)) == ["b"]
    assert sorted(k for k, _ in store.items()) == ["c", "d"]
