"""The fake engine's embeddings: deterministic unit vectors derived from a hash of each input."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from comox.testing.fake_engine_openai import ApiError, Clock, _prompts, resolve_model

DEFAULT_DIMENSIONS = 384
MAX_DIMENSIONS = 8192


def embedding_vector(key: bytes, dimensions: int) -> list[float]:
    """A deterministic unit vector derived from a hash of the input."""
    raw = hashlib.shake_256(key).digest(2 * dimensions)
    values = [v - 32767.5 for v in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


@dataclass(frozen=True)
class Embeddings:
    """A planned embeddings answer (never streamed)."""

    body_bytes: bytes
    prompt_tokens: int
    stream = False
    steps = 0
    completion_tokens = 0
    choices = ()

    def body(self) -> bytes:
        return self.body_bytes


def plan_embeddings(body: dict[str, Any], models: tuple[str, ...], clock: Clock) -> Embeddings:
    model = resolve_model(body, models)
    inputs = _prompts(body.get("input"), "input")
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    if (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 0 < dimensions <= MAX_DIMENSIONS
    ):
        raise ApiError(400, f"dimensions must be an integer in [1, {MAX_DIMENSIONS}]", "dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError(400, 'encoding_format must be "float" or "base64"', "encoding_format")
    data = []
    for index, (text, _) in enumerate(inputs):
        vector: Any = embedding_vector(text.encode(), dimensions)
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"index": index, "object": "embedding", "embedding": vector})
    tokens = sum(n for _, n in inputs)
    usage = {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }
    out = {"id": f"embd-{uuid.uuid4().hex}", "object": "list", "created": int(clock()), "model": model}
    return Embeddings(orjson.dumps({**out, "data": data, "usage": usage}), tokens)
