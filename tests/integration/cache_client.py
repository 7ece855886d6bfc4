"""What the cache tests ask the gateway, and how they see what reached the engine."""

from __future__ import annotations

import json

from comox.testing.keys import request


def engine_requests(engine) -> int:
    return engine.get_json("/_stats")["requests"]


def ask(proc, key, text, **headers):
    """A deterministic chat question; returns the x-comox-cache header and the answer text."""
    body = {"model": "test-model", "temperature": 0, "messages": [{"role": "user", "content": text}]}
    status, hdrs, answer = request(proc.port, "POST", "/v1/chat/completions", body, key, **headers)
    assert status == 200, answer
    return hdrs.get("x-comox-cache"), json.loads(answer)["choices"][0]["message"]["content"]
