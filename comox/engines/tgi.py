"""Text Generation Inference: /health, Prometheus `tgi_*` metrics, OpenAI chat at
/v1/chat/completions (the Messages API). Its /v1/models lists the one served model without a
context size (that lives in /info as max_total_tokens), and it does not document
`stream_options`, so the gateway must not count on a usage chunk."""

from comox.engines.profile import EngineProfile

PROFILE = EngineProfile(
    name="tgi",
    health_path=b"/health",
    metric_names={"tgi_batch_current_size": "running", "tgi_queue_size": "waiting"},
    load_path=b"/metrics",
    include_usage=False,
)
