"""`comox engines` without a running gateway: the configured backends, probed once."""

import argparse
import socket

from comox.config import parse_config
from comox.routing.cli import cmd_engines, from_config, from_gateway, render

CONFIG = """
server: {port: %d}
backends:
  - {name: gpu-a, url: 'http://127.0.0.1:%d', engine: vllm, models: [m]}
  - name: chars
    engine: llamacpp
    models: [a]
    managed: {command: [llama-server, --port, '{port}']}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_gateway_lists_the_config_and_probes_each_engine(capsys):
    port = closed_port()
    config = parse_config(CONFIG % (port, port), source="t")
    assert from_gateway(config, None, 0.5) is None
    rows = from_config(config, 0.5)
    assert [(r["name"], r["engine"], r["healthy"]) for r in rows] == [
        ("gpu-a", "vllm", False),
        ("chars", "llamacpp", None),
    ]
    text = render(rows, live=False)
    assert "gpu-a" in text and "managed: not running" in text and "no gateway answered" in text
    args = argparse.Namespace(url=None, timeout=0.5, json=False)
    assert cmd_engines(config, args) == 1  # an engine is down
    assert "BACKEND" in capsys.readouterr().out
