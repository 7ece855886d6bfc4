"""Per-key policy on a call: which models, how many tokens per request, cloud and data class."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from comox.api.call import Call
from comox.policy.keys import KeyRecord
from comox.server.errors import GatewayError, bad_request

_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")
ALL_MODELS = ("*",)


def model_allowed(patterns: tuple[str, ...], model: str) -> bool:
    return any(fnmatchcase(model, p) for p in patterns)


@dataclass(slots=True)
class AccessStats:
    model_refused: int = 0
    max_tokens_refused: int = 0
    max_tokens_capped: int = 0


class AccessStage:
    """Refuses models outside the key's globs (403) and max_tokens above its cap (400);
    a request that sets no max_tokens gets the cap written in."""

    def __init__(self) -> None:
        self.stats = AccessStats()

    def admit(self, call: Call) -> None:
        key: KeyRecord | None = call.principal
        if key is None:
            return
        if key.models != ALL_MODELS and not model_allowed(key.models, call.model):
            self.stats.model_refused += 1
            raise GatewayError(
                403,
                f"The API key {key.id} may not use the model '{call.model}'; "
                f"it may use models matching {', '.join(key.models) or 'nothing'}.",
                code="model_not_allowed",
                param="model",
            )
        call.allow_cloud = key.allow_cloud
        call.data_class = key.data_class
        if key.max_tokens is not None and call.api != "embeddings":
            self._cap(call, key)

    def _cap(self, call: Call, key: KeyRecord) -> None:
        asked = [(f, call.payload[f]) for f in _TOKEN_FIELDS if call.payload.get(f) is not None]
        for field, value in asked:
            if isinstance(value, int) and value > key.max_tokens:
                self.stats.max_tokens_refused += 1
                raise bad_request(
                    f"{field} is {value}, above this key's limit of {key.max_tokens} tokens per request.",
                    param=field,
                    code="max_tokens_exceeded",
                )
        if not asked:
            self.stats.max_tokens_capped += 1
            call.payload["max_tokens"] = key.max_tokens
            call.payload_changed = True
