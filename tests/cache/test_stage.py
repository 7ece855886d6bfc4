"""The cache stage with a fake embedder and reply channel: no sockets, no model."""

import asyncio
from types import SimpleNamespace

import numpy as np
import orjson
import pytest

from comox.api.call import Call
from comox.cache.exact import AnswerStore
from comox.cache.semantic import SemanticIndex
from comox.cache.stage import HEADER, CacheStage
from comox.config.cache import CacheConfig
from comox.server.errors import GatewayError
from comox.server.request import Request

ANSWER = orjson.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
)
VECTORS = {
    "capital of France?": (1.0, 0.0, 0.0),
    "France's capital?": (0.99, 0.1, 0.0),
    "capital of Peru?": (0.7, 0.7, 0.0),
}


class FakeEmbedder:
    dim = 3

    async def embed(self, text, call=None):
        v = np.array(VECTORS[text], np.float32)
        return v / np.linalg.norm(v)

    def close(self):
        pass


def header_pairs(lines: bytes) -> list[tuple[bytes, bytes]]:
    return [tuple(line.split(b": ", 1)) for line in lines.splitlines()]


class Reply:
    def __init__(self) -> None:
        self.status, self.body, self.headers, self.chunks = 0, b"", (), []

    def loop_time(self) -> float:
        return 0.0

    def send(self, status, body, content_type=b"", extra=(), lines=b""):
        self.status, self.body, self.headers = status, body, (*extra, *header_pairs(lines))

    def start_stream(self, status, content_type=b"", extra=(), lines=b""):
        self.status, self.headers = status, (*extra, *header_pairs(lines))

    def write(self, data):
        self.chunks.append(data)

    def end_stream(self):
        self.chunks.append(None)


def make_call(
    text="capital of France?", tenant="acme", data_class="public", stream=False, headers=None, **extra
):
    payload = {"model": "m", "temperature": 0, "messages": [{"role": "user", "content": text}], **extra}
    if stream:
        payload["stream"] = True
    request = Request(b"POST", b"/v1/chat/completions", b"", headers or {}, orjson.dumps(payload), "")
    call = Call(request, "chat", payload, "m", stream, SimpleNamespace(tenant=tenant, id="k1"))
    call.data_class = data_class
    return call


async def admit(stage, call):
    waiting = stage.admit(call)
    if waiting is not None:
        await waiting
    return dict(header_pairs(call.response_headers)).get(HEADER)


async def serve(stage, call, answer=ANSWER):
    """Admit, then either replay the hit or play the engine's part and settle."""
    kind = await admit(stage, call)
    reply = Reply()
    if call.replay is not None:
        await call.replay(call, reply)
    else:
        for tap in call.answer_taps:
            tap(answer)
        for hook in call.before_complete:
            await hook(call)
        call.status = 200
    stage.settle(call)
    await asyncio.sleep(0)  # the vector's done-callback
    await asyncio.sleep(0)
    return kind, reply


def stage_with(semantic=False, **options):
    config = CacheConfig(enabled=True, semantic={"enabled": semantic, "threshold": 0.95}, **options)
    store = AnswerStore(config.max_entries, config.ttl)
    if semantic:
        return CacheStage(config, store, SemanticIndex(3), FakeEmbedder())
    return CacheStage(config, store)


def run(coro):
    return asyncio.run(coro)


def test_an_identical_request_is_a_hit_with_the_stored_answer():
    async def go():
        stage = stage_with()
        assert (await serve(stage, make_call()))[0] == b"miss"
        kind, reply = await serve(stage, make_call())
        assert kind == b"hit-exact" and reply.body == ANSWER and (HEADER, b"hit-exact") in reply.headers
        assert stage.stats.hits_exact == 1 and stage.stats.misses == 1

    run(go())


def test_tenants_never_share_entries():
    async def go():
        stage = stage_with()
        await serve(stage, make_call(tenant="acme"))
        assert (await serve(stage, make_call(tenant="globex")))[0] == b"miss"

    run(go())


def test_an_excluded_class_is_neither_stored_nor_served():
    async def go():
        stage = stage_with()
        for _ in range(2):
            kind, _ = await serve(stage, make_call(data_class="restricted"))
            assert kind is None
        assert len(stage.store) == 0 and stage.stats.skipped == 2

    run(go())


def test_nondeterministic_requests_are_cached_only_when_forced():
    async def go():
        stage = stage_with()
        hot = {"temperature": 0.7}
        for _ in range(2):
            assert (await serve(stage, make_call(**hot)))[0] is None
        force = {HEADER: b"force"}
        assert (await serve(stage, make_call(headers=force, **hot)))[0] == b"miss"
        assert (await serve(stage, make_call(headers=force, **hot)))[0] == b"hit-exact"
        forced = stage_with(force_nondeterministic=True)
        await serve(forced, make_call(**hot))
        assert (await serve(forced, make_call(**hot)))[0] == b"hit-exact"

    run(go())


def test_skip_and_refresh_controls():
    async def go():
        stage = stage_with()
        await serve(stage, make_call())
        assert (await serve(stage, make_call(headers={HEADER: b"skip"})))[0] is None
        assert (await serve(stage, make_call(headers={HEADER: b"refresh"})))[0] == b"miss"
        assert stage.store.stats.stores == 2
        with pytest.raises(GatewayError) as err:
            stage.admit(make_call(headers={HEADER: b"always"}))
        assert err.value.status == 400

    run(go())


def test_a_paraphrase_is_a_semantic_hit_and_a_different_question_misses():
    async def go():
        stage = stage_with(semantic=True)
        assert (await serve(stage, make_call("capital of France?")))[0] == b"miss"
        assert (await serve(stage, make_call("France's capital?")))[0] == b"hit-semantic"
        assert (await serve(stage, make_call("capital of Peru?")))[0] == b"miss"
        assert stage.stats.similarity.count == 1

    run(go())


def test_semantic_hits_need_the_same_earlier_turns():
    async def go():
        stage = stage_with(semantic=True)
        await serve(stage, make_call("capital of France?"))
        call = make_call("France's capital?")
        call.payload["messages"].insert(0, {"role": "system", "content": "answer in French"})
        call.request.body = orjson.dumps(call.payload)
        assert (await serve(stage, call))[0] == b"miss"

    run(go())


def test_a_stored_whole_answer_replays_as_a_stream_with_usage_when_asked():
    async def go():
        stage = stage_with()
        await serve(stage, make_call())
        call = make_call(stream=True, stream_options={"include_usage": True})
        kind, reply = await serve(stage, call)
        assert kind == b"hit-exact" and reply.chunks[-1] is None
        sse = b"".join(c for c in reply.chunks if c)
        assert b'"Paris."' in sse and b'"total_tokens":7' in sse and sse.endswith(b"data: [DONE]\n\n")

    run(go())


def test_an_unfinished_or_failed_answer_is_not_stored():
    async def go():
        stage = stage_with()
        call = make_call()
        await admit(stage, call)
        for tap in call.answer_taps:
            tap(ANSWER)
        call.status = 200  # the client left: before_complete never ran
        stage.settle(call)
        call = make_call()
        await admit(stage, call)
        for hook in call.before_complete:
            await hook(call)
        call.status = 502
        stage.settle(call)
        assert len(stage.store) == 0

    run(go())


def test_a_large_answer_is_not_stored():
    async def go():
        stage = stage_with(max_answer_bytes=10)
        await serve(stage, make_call())
        assert len(stage.store) == 0

    run(go())


def test_erasure_drops_answers_and_vectors_of_the_subject():
    async def go():
        stage = stage_with(semantic=True)
        await serve(stage, make_call(user="jane"))
        await serve(stage, make_call("capital of Peru?", user="john"))
        assert len(stage.index) == 2
        assert stage.erase("jane", "acme") == 1
        assert len(stage.store) == 1 and len(stage.index) == 1
        assert (await serve(stage, make_call(user="jane")))[0] == b"miss"

    run(go())
