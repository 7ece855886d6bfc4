"""SGLang: /health, Prometheus `sglang:*` metrics (with --enable-metrics), `max_model_len`
in /v1/models, `reasoning_content` with --reasoning-parser."""

from comox.engines.profile import EngineProfile

PROFILE = EngineProfile(
    name="sglang",
    health_path=b"/health",
    metric_names={
        "sglang:num_running_reqs": "running",
        "sglang:num_queue_reqs": "waiting",
        "sglang:token_usage": "kv_cache",
    },
    load_path=b"/metrics",
    reasoning_field="reasoning_content",
)
