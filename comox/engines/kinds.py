"""What the gateway must know about each engine kind to talk to it.

The proxy core reads only `health_path` and `cloud`; everything else an engine kind knows
(metrics names, models listing, routes, quirks) is in its profile (`comox.engines.profiles`).
"""

from __future__ import annotations

from dataclasses import dataclass

from comox.engines.profile import EngineProfile
from comox.engines.profiles import PROFILES


@dataclass(frozen=True, slots=True)
class EngineKind:
    name: str
    health_path: bytes
    """Answers 2xx when the engine can serve (llama.cpp answers 503 while loading)."""
    cloud: bool = False
    profile: EngineProfile | None = None


KINDS: dict[str, EngineKind] = {
    name: EngineKind(name, profile.health_path, name in ("openai", "anthropic"), profile)
    for name, profile in PROFILES.items()
}
