"""The vector index of semantic lookup: brute-force cosine over one float32 matrix per partition.

A partition holds the questions of one (tenant, class, model, family, context) hash, so a
lookup only compares questions that could share an answer. Exact search over a contiguous
matrix is one matrix-vector product: 100k x 384 in a few milliseconds on one core
(bench/CACHE.md), with no approximate-index recall loss and nothing to tune; past that
scale an ANN index (Qdrant) is the place to go.

Thread safety: rows are appended on the event loop; a search may run in a worker thread
on a snapshot (matrix, row count, keys). Appends write beyond the snapshot's rows, growth
and compaction build new arrays, and a forgotten row is zeroed (similarity 0). A search
racing a forget may still name the forgotten key: the stage then finds no answer under it
in the store (forgetting follows removal there) and misses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(slots=True)
class Partition:
    matrix: np.ndarray
    rows: int = 0
    keys: list[str] = field(default_factory=list)
    dead: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    matrix: np.ndarray
    rows: int
    keys: list[str]

    def best(self, vector: np.ndarray) -> tuple[str | None, float]:
        """The closest stored question's key and its cosine similarity (unit vectors)."""
        if self.rows == 0:
            return None, 0.0
        scores = self.matrix[: self.rows] @ vector
        row = int(np.argmax(scores))
        return self.keys[row], float(scores[row])


class SemanticIndex:
    def __init__(self, dim: int = 0) -> None:
        self.dim = dim
        """0: learnt from the first vector (an embeddings backend's size is not known upfront)."""
        self.partitions: dict[str, Partition] = {}
        self._where: dict[str, tuple[str, int]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def snapshot(self, partition: str) -> Snapshot | None:
        p = self.partitions.get(partition)
        if p is None or p.rows == p.dead:
            return None
        return Snapshot(p.matrix, p.rows, p.keys)

    def add(self, partition: str, key: str, vector: np.ndarray) -> None:
        if key in self._where:
            self.forget(key)
        if not self.dim:
            self.dim = len(vector)
        p = self.partitions.get(partition)
        if p is None:
            p = self.partitions[partition] = Partition(np.zeros((8, self.dim), np.float32))
        if p.rows == len(p.matrix):
            grown = np.zeros((2 * len(p.matrix), self.dim), np.float32)
            grown[: p.rows] = p.matrix[: p.rows]
            p.matrix = grown
        p.matrix[p.rows] = _unit(vector)
        p.keys.append(key)
        self._where[key] = (partition, p.rows)
        p.rows += 1

    def forget(self, key: str) -> None:
        """Drop a key's vector (evicted, expired or erased answer)."""
        where = self._where.pop(key, None)
        if where is None:
            return
        name, row = where
        p = self.partitions[name]
        p.matrix[row] = 0.0
        p.dead += 1
        if p.dead == p.rows:
            del self.partitions[name]
        elif p.dead > 32 and p.dead * 2 > p.rows:
            self._compact(name, p)

    def _compact(self, name: str, p: Partition) -> None:
        alive = [i for i, k in enumerate(p.keys[: p.rows]) if self._where.get(k) == (name, i)]
        fresh = Partition(np.zeros((max(8, 2 * len(alive)), self.dim), np.float32))
        fresh.matrix[: len(alive)] = p.matrix[alive]
        fresh.keys = [p.keys[i] for i in alive]
        fresh.rows = len(alive)
        for row, key in enumerate(fresh.keys):
            self._where[key] = (name, row)
        self.partitions[name] = fresh

    def export(self) -> tuple[np.ndarray, list[str], list[str]]:
        """Live vectors with their keys and partitions: a copy, taken on the loop, that
        `write` may save from another thread."""
        names, keys, rows = [], [], []
        for key, (name, row) in self._where.items():
            names.append(name)
            keys.append(key)
            rows.append(self.partitions[name].matrix[row])
        matrix = np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)
        return matrix, keys, names

    @staticmethod
    def write(path: Path, vectors: np.ndarray, keys: list[str], names: list[str]) -> None:
        """One .npz, mode 0600, replaced atomically (no pickle, so loading runs no code)."""
        tmp = path.with_name(path.name + ".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            np.savez(
                f, vectors=vectors, keys=np.array(keys, dtype=str), partitions=np.array(names, dtype=str)
            )
        os.replace(tmp, path)

    def load(self, path: Path, keep: set[str] | frozenset[str]) -> None:
        """Vectors saved by `write`, for the keys whose answers are still stored."""
        with np.load(path, allow_pickle=False) as data:
            vectors, keys, names = data["vectors"], data["keys"], data["partitions"]
            if self.dim and vectors.shape[1:] != (self.dim,):
                return  # another embedder's vectors: start empty
            for vector, key, name in zip(vectors, keys, names, strict=True):
                if str(key) in keep:
                    self.add(str(name), str(key), vector)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
