"""The engine request head: per-call header lines, and the request id left out for engines
that refuse the gateway's."""

import asyncio

from comox.config import parse_config
from comox.proxy.forward import request_bytes, without_request_id
from comox.routing.backend import Backend
from comox.server.watchdog import Watchdog

EXTRA = b"x-request-id: 5785b7c222a0-1\r\ntraceparent: 00-ab-cd-01\r\n"


def backend(engine: str) -> Backend:
    config = parse_config(
        f"backends: [{{name: b, url: 'http://127.0.0.1:9', engine: {engine}, models: [m]}}]"
    )
    loop = asyncio.new_event_loop()
    try:
        return Backend.from_config(config.backends[0], config.upstream, Watchdog(loop), config.routing)
    finally:
        loop.close()


def test_the_request_id_goes_upstream_for_engines_that_take_it():
    data = request_bytes(backend("llamacpp"), b"POST", b"/v1/chat/completions", b"{}", EXTRA)
    assert b"\r\nx-request-id: 5785b7c222a0-1\r\ntraceparent: 00-ab-cd-01\r\n" in data


def test_llama_cpp_python_gets_no_request_id_but_keeps_the_trace_context():
    data = request_bytes(backend("llama-cpp-python"), b"POST", b"/v1/chat/completions", b"{}", EXTRA)
    assert b"x-request-id" not in data
    assert data.endswith(b"traceparent: 00-ab-cd-01\r\ncontent-length: 2\r\n\r\n{}")


def test_without_request_id_leaves_other_lines_alone():
    assert without_request_id(b"traceparent: x\r\n") == b"traceparent: x\r\n"
    assert without_request_id(b"a: 1\r\nx-request-id: r\r\nb: 2\r\n") == b"a: 1\r\nb: 2\r\n"
