"""llama.cpp server (llama-server): /health answers 503 while the model loads; `llamacpp:*`
metrics need --metrics, so load is read from /slots (each slot's `is_processing`), which
the server exposes by default; n_ctx of a slot is the per-slot context window."""

from __future__ import annotations

import orjson

from comox.engines.metrics import EngineLoad
from comox.engines.profile import EngineProfile

METRIC_NAMES = {
    "llamacpp:requests_processing": "running",
    "llamacpp:requests_deferred": "waiting",
    "llamacpp:kv_cache_usage_ratio": "kv_cache",
}


def parse_slots(text: str) -> EngineLoad:
    """Busy slots are running requests; when every slot is busy, a new request waits."""
    try:
        slots = orjson.loads(text)
    except orjson.JSONDecodeError:
        return EngineLoad()
    if not isinstance(slots, list):
        return EngineLoad()
    busy = sum(1 for s in slots if isinstance(s, dict) and s.get("is_processing"))
    return EngineLoad(running=float(busy), kv_cache=busy / len(slots) if slots else 0.0)


def slot_context(text: str) -> int | None:
    """The context window of one slot (`n_ctx`), the most one request can use."""
    try:
        slots = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(slots, list) and slots and isinstance(slots[0], dict):
        n_ctx = slots[0].get("n_ctx")
        return n_ctx if isinstance(n_ctx, int) else None
    return None


PROFILE = EngineProfile(
    name="llamacpp",
    health_path=b"/health",
    metric_names=METRIC_NAMES,
    load_path=b"/slots",
    parse_load_body=parse_slots,
    reasoning_field="reasoning_content",
)
