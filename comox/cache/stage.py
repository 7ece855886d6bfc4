"""The cache stage: look up before routing, fill after a complete answer.

It runs after tenancy (entries are keyed by tenant) and sovereignty (and by data class), as
the last policy stage. Keys are computed on what the client sent, not on the payload a
stage rewrote (redaction placeholders would make different people's requests collide), and
the stored answer is what the client got: the fill is an answer tap, and taps see the
answer after the redaction restore and the client's codec.

A hit sets `call.replay`: the service then answers from the cache instead of routing, so
every stage still ran its `admit` (limits, audit) and will run its `settle`. A miss adds
an answer tap (bounded) and a `before_complete` hook; `settle` stores the answer only if
that hook ran (the end of the answer reached the client) and the status is 200.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import orjson

from comox.api.call import Call, complete
from comox.audit.record import subject_of
from comox.cache.exact import CHAT, JSON, SSE, AnswerStore, Entry
from comox.cache.key import Scope, deterministic, exact_key, partition_key, question, subject_hash
from comox.cache.replay import assemble, stream_events
from comox.config.cache import CacheConfig
from comox.observability.histogram import Histogram
from comox.server import wire
from comox.server.errors import bad_request
from comox.server.wire import header_line

if TYPE_CHECKING:  # numpy is only needed (and installed: the `semantic` extra) for semantic lookup
    from comox.cache.embed import Embedder
    from comox.cache.semantic import SemanticIndex

log = logging.getLogger("comox.cache")
HEADER = b"x-comox-cache"
_MISS = HEADER + b": miss\r\n"
CONTROLS = (b"", b"skip", b"force", b"refresh")
SIMILARITY_BOUNDS = (0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0)
OFF_LOOP_ROWS = 4096
"""Partitions larger than this are searched in the embedder's thread, not on the loop."""
_FILL = "cache.fill"


@dataclass(slots=True)
class CacheStats:
    hits_exact: int = 0
    hits_semantic: int = 0
    misses: int = 0
    skipped: int = 0
    """Not looked up: `x-comox-cache: skip`, an excluded data class, or a request whose
    output is not deterministic."""
    embed_errors: int = 0
    similarity: Histogram = field(default_factory=lambda: Histogram(SIMILARITY_BOUNDS))
    """Cosine similarity of semantic hits."""


@dataclass(slots=True, eq=False)
class Fill:
    """One missed call's answer on its way to the store."""

    key: str
    form: str
    tenant: str
    subject: str
    limit: int
    partition: str | None = None
    vector: asyncio.Future | None = None
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    finished: bool = False

    def tap(self, data: bytes) -> None:
        if self.size <= self.limit:
            self.size += len(data)
            self.parts.append(data)

    async def done(self, call: Call) -> None:
        self.finished = True


class CacheStage:
    def __init__(
        self,
        config: CacheConfig,
        store: AnswerStore,
        index: SemanticIndex | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.index = index
        self.embedder = embedder
        self.semantic = index is not None and embedder is not None
        self.shared = getattr(store, "shared", False)
        """Answers in Redis (comox.cache.shared): lookups are awaited, stores run behind."""
        self.excluded = frozenset(config.exclude_classes)
        self.stats = CacheStats()

    # ---- before routing ---------------------------------------------------------------
    def admit(self, call: Call):
        control = call.request.headers.get(HEADER, b"").strip().lower()
        if control not in CONTROLS:
            raise bad_request(
                f"Unknown {HEADER.decode()} value '{control.decode('latin-1')}'; use skip, force or refresh.",
                param=HEADER.decode(),
                code="invalid_cache_control",
            )
        data_class = call.data_class or "-"
        if control == b"skip" or call.api == "embeddings" or data_class in self.excluded:
            self.stats.skipped += 1
            return None
        source = _client_payload(call)
        if not (control == b"force" or self.config.force_nondeterministic or deterministic(source)):
            self.stats.skipped += 1
            return None
        tenant = getattr(call.principal, "tenant", None) or "-"
        family = call.front.family if call.front is not None else "chat"
        chat = call.api == "chat" and call.front is None
        scope = Scope(tenant, data_class, call.api, family, not chat, call.model)
        fill = Fill(
            exact_key(scope, source, call.stream),
            CHAT if chat else (SSE if call.stream else JSON),
            tenant,
            subject_hash(subject_of(call)),
            self.config.max_answer_bytes,
        )
        refresh = control == b"refresh"
        if self.shared:
            return self._admit_shared(call, fill, scope, source, refresh)
        if self.config.exact and not refresh:
            entry = self.store.get(fill.key)
            if entry is not None:
                self.stats.hits_exact += 1
                return self._hit(call, entry, b"hit-exact")
        return self._by_meaning(call, fill, scope, source, refresh)

    async def _admit_shared(self, call: Call, fill: Fill, scope: Scope, source: dict, refresh: bool) -> None:
        """`admit` with the answers in Redis: the exact lookup is a round trip."""
        if self.config.exact and not refresh:
            entry = await self.store.get(fill.key)
            if entry is not None:
                self.stats.hits_exact += 1
                return self._hit(call, entry, b"hit-exact")
        waiting = self._by_meaning(call, fill, scope, source, refresh)
        if waiting is not None:
            await waiting

    def _by_meaning(self, call: Call, fill: Fill, scope: Scope, source: dict, refresh: bool):
        """No exact hit: look up semantically when the request has a question to embed."""
        text = question(source) if self.semantic and call.answer_filter is None else None
        if text is None or len(text) > self.config.semantic.max_chars:
            return self._miss(call, fill)
        fill.partition = partition_key(scope, source, call.stream)
        fill.vector = self._embed(text, call)
        snapshot = self.index.snapshot(fill.partition)  # type: ignore[union-attr]
        if refresh or snapshot is None:  # nothing to compare with: embed while the engine works
            return self._miss(call, fill)
        return self._semantic(call, fill)

    async def _semantic(self, call: Call, fill: Fill) -> None:
        try:
            vector = await fill.vector  # type: ignore[misc]
        except Exception:
            return self._miss(call, fill)
        snapshot = self.index.snapshot(fill.partition)  # type: ignore[union-attr, arg-type]
        if snapshot is not None:
            if snapshot.rows > OFF_LOOP_ROWS:
                loop = asyncio.get_running_loop()
                key, score = await loop.run_in_executor(None, snapshot.best, vector)
            else:
                key, score = snapshot.best(vector)
            if key is not None and score >= self.config.semantic.threshold:
                entry = self.store.get(key)
                if self.shared:
                    entry = await entry
                if entry is not None and entry.form == fill.form:
                    self.stats.hits_semantic += 1
                    self.stats.similarity.observe(score)
                    return self._hit(call, entry, b"hit-semantic")
        return self._miss(call, fill)

    def _embed(self, text: str, call: Call) -> asyncio.Future:
        future = asyncio.ensure_future(self.embedder.embed(text, call))  # type: ignore[union-attr]
        future.add_done_callback(self._embedded)
        return future

    def _embedded(self, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.stats.embed_errors += 1
            log.warning("cache embedding failed", extra={"fields": {"error": str(future.exception())}})

    def _hit(self, call: Call, entry: Entry, kind: bytes) -> None:
        call.response_headers += header_line(HEADER, kind)
        call.replay = partial(send_entry, entry)
        return None

    def _miss(self, call: Call, fill: Fill) -> None:
        self.stats.misses += 1
        call.response_headers += _MISS
        call.answer_taps = (*call.answer_taps, fill.tap)
        call.before_complete = (*call.before_complete, fill.done)
        call.request.state[_FILL] = fill
        return None

    # ---- after the answer -------------------------------------------------------------
    def settle(self, call: Call) -> None:
        fill = call.request.state.pop(_FILL, None)
        if fill is None:
            return
        if not fill.finished or call.status != 200 or call.error is not None or fill.size > fill.limit:
            return
        body = b"".join(fill.parts)
        if fill.form == CHAT and call.stream:
            body = assemble(body)
            if body is None:
                return
            if call.usage and b'"usage"' not in body:  # the client did not ask for it; we saw it
                body = orjson.dumps({**orjson.loads(body), "usage": call.usage})
        if self.shared:  # the vector, once embedded, is attached to the stored answer there
            self.store.put(fill.key, body, fill.form, fill.tenant, fill.subject, fill.partition, fill.vector)
            return
        for key in self.store.put(fill.key, body, fill.form, fill.tenant, fill.subject):
            self.forget(key)
        if fill.vector is not None:
            fill.vector.add_done_callback(partial(self._index, fill))

    def _index(self, fill: Fill, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None or fill.key not in self.store:
            return
        self.index.add(fill.partition, fill.key, future.result())  # type: ignore[union-attr, arg-type]

    def forget(self, key: str) -> None:
        if self.index is not None:
            self.index.forget(key)

    def erase(self, subject: str, tenant: str | None) -> int:
        """Drop the subject's answers and vectors (in one tenant, or all); returns how many.
        A local store only: a shared one erases through `comox.cache.component`."""
        keys = self.store.erase(subject_hash(subject), tenant)
        for key in keys:
            self.forget(key)
        return len(keys)


def _client_payload(call: Call) -> dict:
    """The request as the client sent it: the native body of another family, else the body
    re-read when a stage (redaction, pinning) rewrote the payload."""
    if call.front is not None:
        return call.front.native
    if call.payload_changed:
        return orjson.loads(call.request.body)
    return call.payload


async def send_entry(entry: Entry, call: Call, reply) -> None:
    """Answer `call` from a stored entry, in the form the client asked for; answer taps and
    `before_complete` hooks run as for an engine's answer."""
    call.status, call.backend, call.served_model = 200, "cache", call.model
    call.first_byte_at = reply.loop_time()
    taps = (*call.chat_taps, *call.answer_taps) if entry.form == CHAT else call.answer_taps
    if not call.stream:
        for tap in taps:
            tap(entry.body)
        if call.before_complete:
            await complete(call)
        reply.send(200, entry.body, wire.JSON, lines=call.response_headers)
        return
    if entry.form == CHAT:
        options = call.payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = stream_events(entry.body, include_usage)
    else:
        events = [entry.body]
    reply.start_stream(200, wire.SSE, lines=call.response_headers)
    for event in events:
        for tap in taps:
            tap(event)
        reply.write(event)
    if call.before_complete:
        await complete(call)
    reply.end_stream()
