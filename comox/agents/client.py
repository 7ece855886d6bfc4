"""The gateway calling its own models for background work: summaries, extraction, embeddings.

Built on the proxy primitives (`request_bytes`, `open_exchange`) and the router's tables,
not on an HTTP call to the gateway itself: no port, no key, no second pass through the
stages. Background work carries a user's conversation, so it stays on the premises: only
local OpenAI-compatible backends are used, and only those the originating call's residency
gate allows (`gate`, from the sovereignty stage). The model's fallbacks are tried in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from comox.proxy.forward import open_exchange, request_bytes
from comox.routing.backend import Backend
from comox.routing.router import Router
from comox.server.errors import GatewayError

Gate = Callable[[Any], bool] | None


class ModelUnavailable(Exception):
    """No allowed backend answered (the message says why)."""


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    failures: int = 0


class ModelClient:
    def __init__(self, router: Router, timeout: float) -> None:
        self.router = router
        self.timeout = timeout
        self.stats = ClientStats()

    def _candidates(self, model: str, gate: Gate, now: float) -> list[tuple[Backend, str]]:
        out = []
        for name in self.router.chain(model):
            targets = [
                t
                for t in self.router.table.targets(name)
                if not t.backend.cloud
                and not t.backend.adapter.translates
                and (gate is None or gate(t.backend))
                and t.backend.state.available(now)
            ]
            targets.sort(key=lambda t: t.backend.state.inflight / t.backend.weight)
            out += [(t.backend, t.model) for t in targets]
        return out

    async def post(self, path: bytes, model: str, body: dict, gate: Gate = None) -> dict:
        """The JSON answer of the first allowed backend that answers 200."""
        loop = asyncio.get_running_loop()
        problem = f"no local backend allowed for this user's data serves '{model}'"
        for backend, engine_model in self._candidates(model, gate, loop.time()):
            self.stats.requests += 1
            data = request_bytes(backend, b"POST", path, orjson.dumps({**body, "model": engine_model}))
            backend.state.inflight += 1
            conn = None
            try:
                async with asyncio.timeout(self.timeout):
                    conn = await open_exchange(backend, data)
                    answer = await conn.body()
                backend.pool.release(conn)
                if conn.status == 200:
                    return orjson.loads(answer)
                problem = f"backend '{backend.name}' answered {conn.status}"
            except (GatewayError, TimeoutError, ConnectionError, OSError, orjson.JSONDecodeError) as exc:
                if conn is not None:
                    backend.pool.discard(conn)
                problem = f"backend '{backend.name}' failed: {exc or type(exc).__name__}"
            finally:
                backend.state.inflight -= 1
            self.stats.failures += 1
        raise ModelUnavailable(problem)

    async def chat(self, body: dict, gate: Gate = None) -> str:
        answer = await self.post(b"/v1/chat/completions", body["model"], body, gate)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return ""
        return content if isinstance(content, str) else ""

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        answer = await self.post(b"/v1/embeddings", model, {"model": model, "input": texts})
        rows = sorted(answer.get("data") or [], key=lambda d: d.get("index", 0))
        return np.asarray([r["embedding"] for r in rows], np.float32)
