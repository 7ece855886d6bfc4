"""What the gateway must know about each engine kind to talk to it.

Only the facts the proxy core needs live here; engine adapters (metrics parsing, quirks)
grow beside this table as their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineKind:
    name: str
    health_path: bytes
    """Answers 2xx when the engine can serve (llama.cpp answers 503 while loading)."""
    cloud: bool = False


KINDS: dict[str, EngineKind] = {
    kind.name: kind
    for kind in (
        EngineKind("vllm", b"/health"),
        EngineKind("sglang", b"/health"),
        EngineKind("llamacpp", b"/health"),
        EngineKind("tgi", b"/health"),
        EngineKind("ollama", b"/api/tags"),
        EngineKind("openai", b"/v1/models", cloud=True),
        EngineKind("anthropic", b"/v1/models", cloud=True),
    )
}
