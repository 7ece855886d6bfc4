"""Engine profiles on payloads in each engine's documented shape, and routing that follows them.

Where each fixture's shape comes from:
- vLLM /v1/models: vllm/entrypoints/openai/protocol.py `ModelCard` (id, object, created,
  owned_by, root, parent, max_model_len, permission[]); /metrics names: vLLM docs
  "Production Metrics" (see tests/engines/test_metrics.py for the full pages).
- SGLang /v1/models: python/sglang/srt/entrypoints/openai/protocol.py `ModelCard`
  (max_model_len since 0.4); metrics: docs/references/production_metrics.md.
- llama.cpp GET /slots: tools/server/README.md "GET /slots: Returns the current slots
  processing state" (id, id_task, n_ctx, speculative, is_processing, params, next_token).
- TGI: docs "Metrics" (tgi_queue_size, tgi_batch_current_size) and "Messages API"
  (OpenAI chat at /v1/chat/completions).
- Ollama GET /api/ps: docs/api.md "List Running Models" (name, model, size, digest, details,
  expires_at, size_vram; context_length in recent releases).
"""

from comox.config.routing import RoutingConfig
from comox.engines.kinds import KINDS
from comox.engines.llamacpp import slot_context
from comox.engines.metrics import EngineLoad
from comox.engines.profiles import PROFILES, profile_of
from comox.routing.router import Router
from tests.routing.fleet import backend, call

VLLM_MODELS = b"""{"object": "list", "data": [{"id": "meta-llama/Llama-3.1-8B-Instruct", "object": "model",
"created": 1727000000, "owned_by": "vllm", "root": "meta-llama/Llama-3.1-8B-Instruct", "parent": null,
"max_model_len": 131072, "permission": [{"id": "modelperm-6d1c", "object": "model_permission",
"created": 1727000000, "allow_create_engine": false, "allow_sampling": true, "allow_logprobs": true,
"allow_search_indices": false, "allow_view": true, "allow_fine_tuning": false, "organization": "*",
"group": null, "is_blocking": false}]}]}"""

TGI_MODELS = b"""{"object": "list", "data": [{"id": "HuggingFaceH4/zephyr-7b-beta", "object": "model",
"created": 1727000000, "owned_by": "HuggingFaceH4/zephyr-7b-beta"}]}"""

LLAMACPP_SLOTS = b"""[
  {"id": 0, "id_task": 1342, "n_ctx": 4096, "speculative": false, "is_processing": true,
   "params": {"n_predict": -1, "seed": 4294967295, "temperature": 0.8, "top_k": 40, "top_p": 0.95,
              "stream": true, "samplers": ["top_k", "top_p", "min_p", "temperature"]},
   "prompt": "", "next_token": {"has_next_token": true, "has_new_line": false, "n_remain": -1,
                                "n_decoded": 113, "stopping_word": ""}},
  {"id": 1, "id_task": -1, "n_ctx": 4096, "speculative": false, "is_processing": false,
   "params": {"n_predict": -1, "seed": 4294967295, "temperature": 0.8},
   "prompt": "", "next_token": {"has_next_token": true, "has_new_line": false, "n_remain": -1,
                                "n_decoded": 0, "stopping_word": ""}}
]"""

OLLAMA_PS = b"""{"models": [{"name": "mistral:latest", "model": "mistral:latest", "size": 5137025024,
"digest": "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8",
"details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
"parameter_size": "7.2B", "quantization_level": "Q4_0"}, "expires_at": "2024-06-04T14:38:31.83753-07:00",
"size_vram": 5137025024, "context_length": 4096}]}"""


def test_health_paths_and_routes_per_kind():
    assert {k: p.health_path for k, p in PROFILES.items() if not KINDS[k].cloud} == {
        "vllm": b"/health",
        "sglang": b"/health",
        "llamacpp": b"/health",
        "llama-cpp-python": b"/docs",  # the page that answers mid-generation (see its profile)
        "tgi": b"/health",
        "ollama": b"/api/tags",
    }
    assert all(p.openai_prefix == b"/v1" for p in PROFILES.values())  # TGI and Ollama included
    assert KINDS["vllm"].profile is profile_of("vllm")


def test_quirks():
    assert profile_of("vllm").include_usage and not profile_of("tgi").include_usage
    assert profile_of("vllm").reasoning_field == "reasoning_content"
    assert profile_of("ollama").load_path is None and profile_of("ollama").models_path == b"/api/ps"
    assert profile_of("llamacpp").load_path == b"/slots"
    local = profile_of("llama-cpp-python")
    assert not local.include_usage and not local.request_id and local.load_path is None


def test_context_window_from_models_listings():
    assert profile_of("vllm").context_window(VLLM_MODELS, "meta-llama/Llama-3.1-8B-Instruct") == 131072
    assert profile_of("sglang").context_window(VLLM_MODELS, "meta-llama/Llama-3.1-8B-Instruct") == 131072
    assert profile_of("tgi").context_window(TGI_MODELS, "HuggingFaceH4/zephyr-7b-beta") is None
    assert profile_of("vllm").context_window(VLLM_MODELS, "other") is None
    assert profile_of("vllm").parse_models(b"not json") == []
    assert slot_context(LLAMACPP_SLOTS.decode()) == 4096


def test_llamacpp_slots_give_running_requests():
    load = profile_of("llamacpp").parse_load(LLAMACPP_SLOTS.decode())
    assert load == EngineLoad(running=1.0, waiting=0.0, kv_cache=0.5)
    assert profile_of("llamacpp").parse_load("<html>") == EngineLoad()


def test_ollama_ps_lists_loaded_models_with_memory_and_context():
    (model,) = profile_of("ollama").parse_models(OLLAMA_PS)
    assert (model.id, model.context_window, model.memory_bytes) == ("mistral:latest", 4096, 5137025024)
    assert profile_of("ollama").parse_models(b'{"models": []}') == []


def test_routing_follows_the_parsed_load():
    """Two llama.cpp servers: one with a busy slot from /slots, one idle: least_load takes the idle
    one; then a vLLM page with a long queue loses to an SGLang page with none."""
    router_config = RoutingConfig(strategy="least_load")
    busy, idle = backend("busy"), backend("idle")
    busy.state.engine = profile_of("llamacpp").parse_load(LLAMACPP_SLOTS.decode())
    idle.state.engine = profile_of("llamacpp").parse_load('[{"id": 0, "is_processing": false}]')
    busy.state.engine_at = idle.state.engine_at = 0.0
    router = Router([busy, idle], router_config)
    assert {router.choose("m", call(), (), 1.0).backend.name for _ in range(10)} == {"idle"}

    queued, free = backend("queued"), backend("free")
    queued.state.engine = profile_of("vllm").parse_load('vllm:num_requests_waiting{model_name="m"} 7\n')
    free.state.engine = profile_of("sglang").parse_load('sglang:num_running_reqs{model_name="m"} 2\n')
    queued.state.engine_at = free.state.engine_at = 0.0
    router = Router([queued, free], router_config)
    assert {router.choose("m", call(), (), 1.0).backend.name for _ in range(10)} == {"free"}
