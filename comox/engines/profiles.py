"""The engine profiles by kind; cloud kinds get a plain OpenAI-shaped profile."""

from __future__ import annotations

from comox.engines import llamacpp, llamacpp_python, ollama, sglang, tgi, vllm
from comox.engines.profile import EngineProfile

PROFILES: dict[str, EngineProfile] = {
    p.name: p
    for p in (
        vllm.PROFILE,
        sglang.PROFILE,
        llamacpp.PROFILE,
        llamacpp_python.PROFILE,
        tgi.PROFILE,
        ollama.PROFILE,
        EngineProfile("openai", b"/v1/models"),
        EngineProfile("anthropic", b"/v1/models", include_usage=False),
    )
}


def profile_of(engine: str) -> EngineProfile:
    return PROFILES[engine]
