"""vLLM: /health, Prometheus `vllm:*` metrics, `max_model_len` in /v1/models, and
`reasoning_content` on messages when a reasoning parser is enabled."""

from comox.engines.profile import EngineProfile

PROFILE = EngineProfile(
    name="vllm",
    health_path=b"/health",
    metric_names={
        "vllm:num_requests_running": "running",
        "vllm:num_requests_waiting": "waiting",
        "vllm:gpu_cache_usage_perc": "kv_cache",
        "vllm:kv_cache_usage_perc": "kv_cache",  # V1 name; both appear during the rename
    },
    load_path=b"/metrics",
    reasoning_field="reasoning_content",
)
