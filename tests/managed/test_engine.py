"""Command templates and restart backoff of a managed engine."""

import sys

from comox.managed.engine import backoff, render_command


def test_placeholders_are_filled_and_json_braces_survive():
    argv = render_command(
        ("{python}", "-m", "x", "--port", "{port}", "-m", "/m/{model}.gguf", '{"a": 1}'), "m1", 9000
    )
    assert argv == [sys.executable, "-m", "x", "--port", "9000", "-m", "/m/m1.gguf", '{"a": 1}']


def test_backoff_doubles_and_is_capped():
    assert [backoff(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
