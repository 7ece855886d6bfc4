"""The `managed:` block of a backend (comox/config/managed.py) and its checks."""

import pytest

from comox.config import ConfigError, parse_config

BACKEND = """
backends:
  - name: chars
    engine: llamacpp
    models: [a, b]
    managed: {command: [llama-server, -m, '/models/{model}.gguf', --port, '{port}'], max_loaded: 1}
"""


def test_a_managed_backend_needs_no_url_and_keeps_its_options():
    backend = parse_config(BACKEND, source="t").backends[0]
    assert backend.url == "http://127.0.0.1" and backend.managed.max_loaded == 1
    assert backend.managed.idle_unload is None and backend.managed.load_timeout == 180.0


def test_a_command_without_port_is_refused():
    with pytest.raises(ConfigError, match="port"):
        parse_config(BACKEND.replace(", --port, '{port}'", ""), source="t")


def test_managed_backends_need_one_worker():
    with pytest.raises(ConfigError, match="single worker"):
        parse_config("server: {workers: 2}\n" + BACKEND, source="t")
