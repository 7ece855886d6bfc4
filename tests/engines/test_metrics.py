"""Engine /metrics parsing, on payloads in each engine's documented format.

Fixtures follow the exposition shown in: vLLM docs "Production Metrics" (vllm:num_requests_running,
vllm:num_requests_waiting, vllm:gpu_cache_usage_perc; V1 renames to vllm:kv_cache_usage_perc);
SGLang docs/references/production_metrics.md (sglang:num_running_reqs, sglang:num_queue_reqs,
sglang:token_usage); llama.cpp tools/server README "GET /metrics" (llamacpp:requests_processing,
llamacpp:requests_deferred, llamacpp:kv_cache_usage_ratio); TGI docs "Metrics" (tgi_queue_size,
tgi_batch_current_size).
"""

from comox.engines.metrics import EngineLoad, has_metrics, parse_load

VLLM = """# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.83
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
"""

SGLANG = """# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.28
"""

LLAMACPP = """# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 1
# HELP llamacpp:requests_deferred Number of requests deferred.
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 5
# TYPE llamacpp:kv_cache_usage_ratio gauge
llamacpp:kv_cache_usage_ratio 0.5
"""

TGI = """# TYPE tgi_queue_size gauge
tgi_queue_size 9
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 2
"""


def test_each_engine_maps_to_running_waiting_and_kv_cache():
    assert parse_load("vllm", VLLM) == EngineLoad(4.0, 12.0, 0.83)
    assert parse_load("sglang", SGLANG) == EngineLoad(7.0, 3.0, 0.28)
    assert parse_load("llamacpp", LLAMACPP) == EngineLoad(1.0, 5.0, 0.5)
    assert parse_load("tgi", TGI) == EngineLoad(2.0, 9.0, 0.0)


def test_v1_kv_cache_name_and_several_models_are_summed():
    text = (
        'vllm:num_requests_waiting{model_name="a"} 1\n'
        'vllm:num_requests_waiting{model_name="b"} 2 1700000000000\n'
        'vllm:kv_cache_usage_perc{model_name="a",engine="0"} 0.25\n'
    )
    assert parse_load("vllm", text) == EngineLoad(0.0, 3.0, 0.25)


def test_garbage_lines_are_skipped_and_unknown_engines_report_nothing():
    assert parse_load("vllm", 'vllm:num_requests_waiting{x="1"} NaNx\nnot a metric\n') == EngineLoad()
    assert not has_metrics("openai")
    assert parse_load("openai", VLLM) == EngineLoad()


def test_two_names_of_one_fact_are_not_added() -> None:
    text = "vllm:gpu_cache_usage_perc 0.25\nvllm:kv_cache_usage_perc 0.25\nvllm:num_requests_waiting 3\n"
    load = parse_load("vllm", text)
    assert load.kv_cache == 0.25 and load.waiting == 3
