import numpy as np

from comox.agents.retrieve import DAY, Columns, Weights, scores, top

W = Weights(1.0, 0.2, 0.2, 30.0, 0.0, 0.5)


def cols(vectors, created, importance=None, current=None, stale=None, turn=None):
    n = len(vectors)
    v = np.asarray(vectors, np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Columns(
        np.arange(1, n + 1, dtype=np.int64), v, np.asarray(created, np.float64),
        np.asarray(importance or [0.5] * n, np.float32), np.asarray(current or [True] * n),
        np.asarray(stale or [False] * n), np.asarray(turn or [-1] * n, np.int64),
    )  # fmt: skip


def test_similarity_first_then_recency_and_importance_break_ties():
    c = cols([[1, 0], [1, 0], [0, 1]], [0, 10 * DAY, 10 * DAY], [0.5, 0.5, 1.0])
    s = scores(c, np.array([1, 0], np.float32), 10 * DAY, W, 2**62)
    assert list(top(s, 3)) == [1, 0, 2]


def test_superseded_facts_and_turns_in_the_window_never_come_back():
    c = cols([[1, 0], [1, 0], [1, 0.1]], [0, 0, 0], current=[False, True, True], turn=[-1, 7, 3])
    s = scores(c, np.array([1, 0], np.float32), 0, W, window_start=5)
    assert list(top(s, 5)) == [2]


def test_stale_turns_are_scored_down():
    c = cols([[1, 0], [1, 0]], [0, 0], stale=[True, False], turn=[1, 2])
    s = scores(c, np.array([1, 0], np.float32), 0, W, 2**62)
    assert s[0] < s[1]


def test_top_of_nothing_is_empty():
    assert len(top(np.empty(0, np.float32), 5)) == 0 and len(top(np.array([-np.inf]), 3)) == 0
