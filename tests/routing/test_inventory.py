"""What GET /admin/backends says about each backend, from its state alone."""

from comox.engines.metrics import EngineLoad
from comox.engines.profiles import profile_of
from comox.routing.inventory import describe, loaded_models
from tests.engines.test_profiles import OLLAMA_PS
from tests.routing.fleet import backend


def test_loaded_models_come_from_the_engine_where_it_reports_them():
    ollama = backend("laptop", models=("mistral:latest", "llama3:8b"))
    ollama.state.loaded = tuple(m.id for m in profile_of("ollama").parse_models(OLLAMA_PS))
    assert loaded_models(ollama) == ["mistral:latest"]
    plain = backend("gpu-a")
    assert loaded_models(plain) == ["m"]
    plain.state.health.healthy = False
    assert loaded_models(plain) == []


def test_describe_shows_kind_health_and_fresh_load():
    b = backend("gpu-a")
    b.state.engine, b.state.engine_at = EngineLoad(2.0, 1.0, 0.5), 0.0
    row = describe(b, 1.0)
    assert row["engine"] == "vllm" and row["healthy"] and row["managed"] is None
    assert row["load"] == {"running": 2.0, "waiting": 1.0, "kv_cache": 0.5}
    assert describe(b, 100.0)["load"]["running"] == 0.0  # a stale scrape is not shown as load
