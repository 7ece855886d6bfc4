import numpy as np

from comox.agents.consolidate import chunks, plan_merges
from comox.agents.records import Memory


def test_near_duplicates_merge_into_the_newest_with_the_best_importance():
    v = np.asarray([[1, 0], [0.999, 0.04], [0, 1], [1, 0.01]], np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    (merge,) = plan_merges([10, 11, 12, 13], v, [0.9, 0.2, 0.5, 0.1], 0.99)
    assert merge.keep == 13 and set(merge.drop) == {10, 11} and merge.importance == 0.9


def test_only_full_chunks_are_compressed():
    mems = [Memory(i, "turn", "t", 0.3, 0.0) for i in range(25)]
    assert [len(c) for c in chunks(mems, 10)] == [10, 10]
