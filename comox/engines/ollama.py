"""Ollama: no /health or /metrics; GET /api/tags answers when it is up, GET /api/ps lists the
models loaded in memory (with size_vram and context_length), and OpenAI chat is served at
/v1/chat/completions. Ollama loads models on demand itself, so "loaded" matters to routing."""

from __future__ import annotations

import orjson

from comox.engines.profile import EngineProfile, ModelInfo


def parse_ps(body: bytes) -> list[ModelInfo]:
    """The models Ollama has in memory, from GET /api/ps."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    models = parsed.get("models") if isinstance(parsed, dict) else None
    out = []
    for item in models if isinstance(models, list) else ():
        if not isinstance(item, dict):
            continue
        name = item.get("model") or item.get("name")
        if not isinstance(name, str):
            continue
        window, vram = item.get("context_length"), item.get("size_vram")
        out.append(
            ModelInfo(
                name, window if isinstance(window, int) else None, vram if isinstance(vram, int) else None
            )
        )
    return out


PROFILE = EngineProfile(
    name="ollama",
    health_path=b"/api/tags",
    models_path=b"/api/ps",
    parse_models=parse_ps,
)
