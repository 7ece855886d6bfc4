import asyncio
from pathlib import Path
from types import SimpleNamespace

from comox.cache.component import ResponseCache
from comox.cache.exact import CHAT, AnswerStore
from comox.cache.key import subject_hash
from comox.cache.persist import Journal, apply, load_answers, request_cache_erasure, save_answers
from comox.config.cache import CacheConfig


def test_answers_survive_a_save_and_load_privately(tmp_path: Path):
    store = AnswerStore(10, 600.0)
    store.put("k", b'{"a": 1}', CHAT, "acme", subject_hash("jane"))
    path = tmp_path / "w.answers"
    save_answers(path, store.items())
    assert path.stat().st_mode & 0o777 == 0o600
    with open(path, "ab") as f:
        f.write(b'{"torn')  # a crash mid-write
    loaded = dict(load_answers(path))
    assert list(loaded) == ["k"] and loaded["k"].body == b'{"a": 1}'


def test_the_journal_names_hashed_subjects_and_is_read_incrementally(tmp_path: Path):
    writer, reader = Journal(tmp_path), Journal(tmp_path)
    writer.append("jane", "acme")
    assert [e.tenant for e in reader.new()] == ["acme"] and reader.new() == []
    writer.append("john", None)
    assert [e.subject for e in reader.new()] == [subject_hash("john")]
    assert b"jane" not in (tmp_path / "erasures.jsonl").read_bytes()


def test_an_erasure_spares_answers_stored_after_it(tmp_path: Path):
    clock = SimpleNamespace(now=100.0)
    store = AnswerStore(10, 600.0, lambda: clock.now)
    store.put("old", b"1", CHAT, "acme", subject_hash("jane"))
    erasure = Journal(tmp_path).append("jane", None, at=150.0)
    clock.now = 200.0
    store.put("new", b"2", CHAT, "acme", subject_hash("jane"))
    assert apply(store, [erasure]) == ["old"] and "new" in store


def test_a_worker_reloads_its_entries_and_applies_erasures_journalled_meanwhile(tmp_path: Path):
    config = SimpleNamespace(cache=CacheConfig(enabled=True, directory=str(tmp_path)))

    async def go():
        first = ResponseCache(config, router=None)
        await first.start()
        first.store.put("a", b"1", CHAT, "acme", subject_hash("jane"))
        first.store.put("b", b"2", CHAT, "acme", subject_hash("john"))
        await first.aclose()
        assert request_cache_erasure(config.cache, "jane", "acme")  # the CLI, while it was down
        second = ResponseCache(config, router=None)
        await second.start()
        assert [k for k, _ in second.store.items()] == ["b"]
        request_cache_erasure(config.cache, "john", None)
        second.poll()
        assert len(second.store) == 0
        await second.aclose()

    asyncio.run(go())
