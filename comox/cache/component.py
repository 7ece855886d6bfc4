"""The response cache of one worker, assembled from the config: stage, store, index,
embedder, files, and the erasure it takes part in.

Off (the default) adds no stage. `start()` loads the worker's saved entries and the
erasures journalled since, and starts the save and erasure-poll timers; `aclose()` saves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from comox.cache.exact import AnswerStore
from comox.cache.key import subject_hash
from comox.cache.persist import Journal, apply, load_answers, save_answers
from comox.cache.stage import CacheStage
from comox.server.errors import GatewayError

log = logging.getLogger("comox.cache")


def build_embedder(semantic_config, router):
    """Imported here: numpy and the model are only needed when semantic lookup is on."""
    from comox.cache.embed import LocalEmbedder, RouterEmbedder

    model = semantic_config.backend_model
    if model is not None:
        return RouterEmbedder(router, model)
    return LocalEmbedder(semantic_config.threads)


class ResponseCache:
    def __init__(self, config, router, worker: int = 0, clock: Callable[[], float] = time.time) -> None:
        c = self.config = config.cache
        index = embedder = None
        if c.semantic.enabled:
            from comox.cache.semantic import SemanticIndex

            embedder = build_embedder(c.semantic, router)
            index = SemanticIndex(embedder.dim)
        self.index, self.embedder = index, embedder
        self.shared = self.mirror = None
        if c.redis is not None:  # answers in Redis, vectors mirrored here: nothing of ours on disk
            from comox.cache.shared import SharedAnswers, VectorMirror

            self.store = self.shared = SharedAnswers(c.redis, c.redis_prefix, c.max_entries, c.ttl, clock)
            if index is not None:
                self.mirror = self.shared.mirror = VectorMirror(self.shared, index, embedder.dim)
        else:
            self.store = AnswerStore(c.max_entries, c.ttl, clock)
        self.stage = CacheStage(c, self.store, index, embedder)
        self.stages = (self.stage,) if c.enabled else ()
        directory = Path(c.directory) if c.directory and self.shared is None else None
        self.journal = Journal(directory) if directory is not None else None
        self.files = (
            (directory / f"worker-{worker}.answers", directory / f"worker-{worker}.vectors.npz")
            if directory is not None
            else None
        )
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def stats(self):
        return self.stage.stats

    async def start(self) -> None:
        if not self.config.enabled:
            return
        if self.mirror is not None:
            self.mirror.start()
        if self.files is not None:
            await asyncio.to_thread(self._load)
            self._every(self.config.save_interval, self._save_soon)
        if self.journal is not None:
            self.poll()
            self._every(self.config.erasure_poll, self.poll)
        warm = getattr(self.embedder, "warm", None)
        if warm is not None:  # load the local model before the first request needs it
            await warm()

    def _every(self, seconds: float, action: Callable[[], object]) -> None:
        loop = asyncio.get_running_loop()

        name = getattr(action, "__name__", repr(action))

        def tick() -> None:
            self._timers[name] = loop.call_later(seconds, tick)
            action()

        self._timers[name] = loop.call_later(seconds, tick)

    def _load(self) -> None:
        answers, vectors = self.files  # type: ignore[misc]
        answers.parent.mkdir(parents=True, exist_ok=True)
        for key, entry in load_answers(answers):
            self.store.restore(key, entry)
        if self.journal is not None:
            apply(self.store, self.journal.new())
        if self.index is not None and vectors.exists():
            try:
                self.index.load(vectors, frozenset(k for k, _ in self.store.items()))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("cache vectors not loaded", extra={"fields": {"error": str(exc)}})

    def poll(self) -> None:
        """Apply erasures journalled by other processes (and our own, again: harmless)."""
        for key in apply(self.store, self.journal.new()):  # type: ignore[union-attr]
            self.stage.forget(key)

    async def erase(self, subject: str, tenant: str | None = None) -> int:
        """Erase a subject's cached answers here at once, and everywhere: through Redis when
        the cache is shared, else through the journal other workers poll."""
        if self.shared is not None:
            try:
                keys = await self.shared.erase(subject_hash(subject), tenant)
            except Exception as exc:  # Redis away: say so; repeating the erasure is safe
                raise GatewayError(
                    503,
                    f"The shared cache could not be reached to erase the subject's cached answers "
                    f"({exc}); nothing else is left undone there, and the erasure can be repeated safely.",
                    code="cache_unavailable",
                    headers=((b"retry-after", b"5"),),
                ) from None
            for key in keys:
                self.stage.forget(key)
            return len(keys)
        if self.journal is not None:
            self.journal.append(subject, tenant)
        return self.stage.erase(subject, tenant)

    def _save_soon(self) -> None:
        entries = list(self.store.items())  # a snapshot taken on the loop; written in a thread
        index = self.index
        vectors = index.export() if index is not None else None
        asyncio.get_running_loop().run_in_executor(None, self._write, entries, vectors)

    def _write(self, entries, vectors) -> None:
        answers, vector_file = self.files  # type: ignore[misc]
        try:
            save_answers(answers, entries)
            if vectors is not None:
                type(self.index).write(vector_file, *vectors)
        except OSError as exc:
            log.warning("cache not saved", extra={"fields": {"error": str(exc)}})

    async def aclose(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self.config.enabled and self.files is not None:
            entries = list(self.store.items())
            vectors = self.index.export() if self.index is not None else None
            await asyncio.to_thread(self._write, entries, vectors)
        if self.mirror is not None:
            await self.mirror.aclose()
        if self.shared is not None:
            await self.shared.aclose()
        if self.embedder is not None:
            self.embedder.close()
