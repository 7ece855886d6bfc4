from pathlib import Path

import numpy as np

from comox.cache.semantic import SemanticIndex


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


def test_the_closest_question_of_the_partition_wins():
    index = SemanticIndex(3)
    index.add("p", "k1", unit(1, 0, 0))
    index.add("p", "k2", unit(0, 1, 0))
    index.add("q", "k3", unit(0.9, 0.1, 0))
    key, score = index.snapshot("p").best(unit(0.1, 1, 0))
    assert key == "k2" and 0.99 < score <= 1.0
    assert index.snapshot("nothing") is None


def test_growth_keeps_rows_and_forgotten_rows_never_match():
    index = SemanticIndex(2)
    for i in range(100):
        index.add("p", f"k{i}", unit(1, i / 100))
    index.forget("k0")
    key, _ = index.snapshot("p").best(unit(1, 0))
    assert key == "k1" and len(index) == 99
    for i in range(1, 80):
        index.forget(f"k{i}")  # compacts once most rows are dead
    snap = index.snapshot("p")
    assert snap.rows < 60 and snap.best(unit(1, 0))[0] == "k80"
    for i in range(80, 100):
        index.forget(f"k{i}")
    assert index.snapshot("p") is None and not index.partitions


def test_vectors_are_saved_and_loaded_for_the_answers_still_stored(tmp_path: Path):
    index = SemanticIndex(2)
    index.add("p", "a", unit(1, 0))
    index.add("p", "b", unit(0, 1))
    path = tmp_path / "v.npz"
    SemanticIndex.write(path, *index.export())
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = SemanticIndex(2)
    loaded.load(path, {"b"})
    assert len(loaded) == 1 and loaded.snapshot("p").best(unit(0, 1))[0] == "b"
