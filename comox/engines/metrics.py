"""An engine's load, read from its own Prometheus /metrics page.

Each engine names the same three facts differently; the table below maps them, and the
parser reads only the lines it needs (a vLLM page is hundreds of histogram lines).
Names are those the engines document: vLLM `vllm:num_requests_*` and
`vllm:gpu_cache_usage_perc` (renamed `vllm:kv_cache_usage_perc` in V1), SGLang
`sglang:num_running_reqs`/`num_queue_reqs`/`token_usage`, llama.cpp server
`llamacpp:requests_processing`/`requests_deferred`/`kv_cache_usage_ratio`, TGI
`tgi_batch_current_size`/`tgi_queue_size`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineLoad:
    running: float = 0.0
    """Requests the engine is generating for now."""
    waiting: float = 0.0
    """Requests queued inside the engine, not yet scheduled."""
    kv_cache: float = 0.0
    """Share of KV-cache blocks in use, 0..1."""


_NAMES: dict[str, dict[str, str]] = {
    "vllm": {
        "vllm:num_requests_running": "running",
        "vllm:num_requests_waiting": "waiting",
        "vllm:gpu_cache_usage_perc": "kv_cache",
        "vllm:kv_cache_usage_perc": "kv_cache",
    },
    "sglang": {
        "sglang:num_running_reqs": "running",
        "sglang:num_queue_reqs": "waiting",
        "sglang:token_usage": "kv_cache",
    },
    "llamacpp": {
        "llamacpp:requests_processing": "running",
        "llamacpp:requests_deferred": "waiting",
        "llamacpp:kv_cache_usage_ratio": "kv_cache",
    },
    "tgi": {"tgi_batch_current_size": "running", "tgi_queue_size": "waiting"},
}

METRICS_PATH = b"/metrics"


def has_metrics(engine: str) -> bool:
    return engine in _NAMES


def parse_load(engine: str, text: str) -> EngineLoad:
    """Sum each mapped metric over its label sets (one engine may serve several models).

    Two names of one fact (vLLM exports gpu_cache_usage_perc and kv_cache_usage_perc side by
    side during the rename) are not added: the larger one is taken.
    """
    names = _NAMES.get(engine, {})
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
