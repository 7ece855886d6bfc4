"""Which long-term memories a new message brings back: pure scoring over one user's index.

score = w_sim * relevance + w_rec * 0.5 ** (age / half_life) + w_imp * importance

where relevance is the cosine similarity rescaled to 0..1 over the user's memories (min to
max). Embedding models crowd their cosines into a narrow band (e5: 0.7 to 0.9 for almost
any pair of sentences), so raw cosines would let a small recency or importance bonus
outweigh what the message is actually about; rescaled, the three terms share one unit.

Superseded facts never come back (their newer version does); past turns that stated a fact
since superseded are scored down rather than dropped, since they may hold other things that
are still true; turns still in the short-term window are skipped (they are in the prompt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from comox.config.agents import RetrievalConfig

DAY = 86400.0
TURN_IMPORTANCE = 0.3
"""Importance of a verbatim past turn (facts get theirs from the extraction model)."""


@dataclass(slots=True)
class Columns:
    """One user's memories as parallel arrays (see comox.agents.index)."""

    ids: np.ndarray  # int64
    vectors: np.ndarray  # float32 (n, dim), L2-normalised
    created: np.ndarray  # float64
    importance: np.ndarray  # float32
    current: np.ndarray  # bool: not superseded
    stale: np.ndarray  # bool: a turn stating a superseded fact
    turn: np.ndarray  # int64: source turn id of verbatim turns, -1 otherwise


@dataclass(frozen=True, slots=True)
class Weights:
    similarity: float
    recency: float
    importance: float
    half_life_days: float
    min_similarity: float
    superseded_penalty: float

    @classmethod
    def of(cls, c: RetrievalConfig) -> Weights:
        return cls(
            c.similarity, c.recency, c.importance, c.half_life_days, c.min_similarity, c.superseded_penalty
        )


def scores(cols: Columns, query: np.ndarray, now: float, w: Weights, window_start: int) -> np.ndarray:
    """Score of every memory; -inf for those that must not come back."""
    if not len(cols.ids):
        return np.empty(0, np.float32)
    sim = cols.vectors @ query
    low, high = float(sim.min()), float(sim.max())
    total = w.similarity * ((sim - low) / max(high - low, 1e-6))
    if w.recency:
        age_days = np.maximum(now - cols.created, 0.0) / DAY
        total = total + w.recency * np.exp2(-age_days / w.half_life_days)
    if w.importance:
        total = total + w.importance * cols.importance
    if w.superseded_penalty < 1.0:
        total = np.where(cols.stale, total * w.superseded_penalty, total)
    hidden = ~cols.current | (sim < w.min_similarity) | (cols.turn >= window_start)
    return np.where(hidden, -np.inf, total).astype(np.float32)


def top(score: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` best finite scores, best first."""
    if k <= 0 or not len(score):
        return np.empty(0, np.int64)
    finite = np.flatnonzero(np.isfinite(score))
    if len(finite) > k:
        part = np.argpartition(-score[finite], k - 1)[:k]
        finite = finite[part]
    return finite[np.argsort(-score[finite], kind="stable")]
