"""An engine's load, read from its own Prometheus /metrics page.

Each engine names the same three facts differently; each engine's profile (vllm.py,
sglang.py, ...) maps them, and the
parser reads only the lines it needs (a vLLM page is hundreds of histogram lines).
Names are those the engines document: vLLM `vllm:num_requests_*` and
`vllm:gpu_cache_usage_perc` (renamed `vllm:kv_cache_usage_perc` in V1), SGLang
`sglang:num_running_reqs`/`num_queue_reqs`/`token_usage`, llama.cpp server
`llamacpp:requests_processing`/`requests_deferred`/`kv_cache_usage_ratio`, TGI
`tgi_batch_current_size`/`tgi_queue_size`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineLoad:
    running: float = 0.0
    """Requests the engine is generating for now."""
    waiting: float = 0.0
    """Requests queued inside the engine, not yet scheduled."""
    kv_cache: float = 0.0
    """Share of KV-cache blocks in use, 0..1."""


METRICS_PATH = b"/metrics"


def has_metrics(engine: str) -> bool:
    """True when the engine kind exports Prometheus load metrics the gateway can read."""
    from comox.engines.profiles import PROFILES

    profile = PROFILES.get(engine)
    return profile is not None and bool(profile.metric_names)


def parse_load(engine: str, text: str) -> EngineLoad:
    """The load of an engine of kind `engine` from its Prometheus page (names from its profile)."""
    from comox.engines.profiles import PROFILES

    profile = PROFILES.get(engine)
    return parse_named(profile.metric_names if profile is not None else {}, text)


def parse_named(names: Mapping[str, str], text: str) -> EngineLoad:
    """Sum each mapped metric over its label sets (one engine may serve several models).

    Two names of one fact (vLLM exports gpu_cache_usage_perc and kv_cache_usage_perc side by
    side during the rename) are not added: the larger one is taken.
    """
    by_name: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name_end = min((i for i in (line.find("{"), line.find(" ")) if i != -1), default=-1)
        if name_end == -1:
            continue
        field = names.get(line[:name_end])
        if field is None:
            continue
        rest = line[name_end:]
        if rest[0] == "{":
            rest = rest[rest.rfind("}") + 1 :]
        try:
            value = float(rest.split()[0])  # a timestamp may follow the value
        except (ValueError, IndexError):
            continue
        name = line[:name_end]
        by_name[name] = by_name.get(name, 0.0) + value
    values: dict[str, float] = {}
    for name, value in by_name.items():
        field = names[name]
        values[field] = max(values.get(field, value), value)
    return EngineLoad(**values)
