"""Model version pinning and sticky A/B splits between versions.

A version is a public model name served by backends (`llama-3-8b@2025-06`). For a call to
model M, the first that applies wins: the key's pin (config `pinning.keys`, else the key's
metadata `pins`), the tenant's pin, then M's weighted split, where each caller (the request's
`user` field, else the key id, else the client address) always lands on the same version.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from comox.api.call import Call
from comox.config.sovereignty import PinningConfig
from comox.server.wire import header_line


@dataclass(slots=True)
class PinningStats:
    pinned: int = 0
    split: dict[str, int] = field(default_factory=dict)


def split_choice(split: Mapping[str, float], model: str, caller: str) -> str:
    """The version `caller` gets from a weighted split: a stable hash, the same in every worker."""
    total = sum(split.values())
    point = zlib.crc32(f"{model}\0{caller}".encode()) / 2**32 * total
    for version, weight in split.items():
        if point < weight:
            return version
        point -= weight
    return next(reversed(split))


def caller_of(call: Call) -> str:
    user = call.payload.get("user")
    if isinstance(user, str) and user:
        return "u:" + user
    key = call.principal
    if key is not None:
        return "k:" + key.id
    return "c:" + str(call.request.client)


def pinned_version(config: PinningConfig, call: Call) -> str | None:
    key = call.principal
    if key is None:
        return None
    for table in (config.keys.get(key.id), key.metadata.get("pins"), config.tenants.get(key.tenant)):
        if isinstance(table, Mapping):
            version = table.get(call.model)
            if isinstance(version, str):
                return version
    return None


class PinningStage:
    def __init__(self, config: PinningConfig) -> None:
        self.config = config
        self.stats = PinningStats()

    def admit(self, call: Call) -> None:
        version = pinned_version(self.config, call)
        if version is not None:
            self.stats.pinned += 1
        else:
            split = self.config.versions.get(call.model)
            if split is None:
                return
            version = split_choice(split, call.model, caller_of(call))
            self.stats.split[version] = self.stats.split.get(version, 0) + 1
        if version != call.model:
            call.model = version
            call.payload["model"] = version
            call.payload_changed = True
        call.response_headers += header_line(b"x-comox-model-version", version.encode())
