"""The observability block: safe defaults, and tracing refused clearly without the SDK."""

from __future__ import annotations

import pytest

from comox.config import ConfigError, parse_config
from comox.config import observability as obs

BACKENDS = "backends: [{name: a, url: 'http://127.0.0.1:9', engine: vllm, models: [m]}]\n"


def test_defaults_serve_metrics_without_access_log_or_tracing():
    o = parse_config(BACKENDS).observability
    assert o.metrics.enabled and o.metrics.path == "/metrics" and o.metrics.multiprocess_dir is None
    assert not o.access_log and not o.tracing.enabled


def test_tracing_without_the_sdk_is_a_config_error(monkeypatch):
    monkeypatch.setattr(obs, "_otel_installed", lambda: False)
    with pytest.raises(ConfigError) as err:
        parse_config(BACKENDS + "observability: {tracing: {enabled: true}}\n", source="gw.yaml")
    assert "comox-gateway[otel]" in str(err.value)


def test_metrics_path_must_be_a_path():
    with pytest.raises(ConfigError):
        parse_config(BACKENDS + "observability: {metrics: {path: metrics}}\n")
