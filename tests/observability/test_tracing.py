"""Traces of a call: an in-process gateway with the SDK's in-memory exporter, in front of the
test engine process; the span tree, its GenAI attributes, and traceparent at the engine."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

pytest.importorskip("opentelemetry.sdk")
import uvloop
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from comox.config import parse_config
from comox.gateway import Gateway
from comox.testing.processes import start_engine

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"


async def _post(port: int, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\nconnection: close\r\n{head}\r\n".encode()
        + data
    )
    raw = await reader.read()
    writer.close()
    return int(raw.split()[1]), raw


def _run_gateway(engine_url: str, dead_port: int, exporter: InMemorySpanExporter, requests) -> list:
    yaml = f"""
backends:
  - {{name: dead, url: "http://127.0.0.1:{dead_port}", engine: vllm, models: [m]}}
  - {{name: good, url: "{engine_url}", engine: vllm, models: [m]}}
routing: {{strategy: round_robin, health: {{enabled: false}}, scrape: {{enabled: false}}}}
observability: {{access_log: false, tracing: {{enabled: true, service_name: comox-test}}}}
"""
    config = parse_config(yaml, source="test")

    async def main():
        gateway = Gateway(config, trace_processor=SimpleSpanProcessor(exporter))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await gateway.start(sock)
        try:
            return [await _post(sock.getsockname()[1], *r) for r in requests]
        finally:
            await gateway.drain(1.0)
            await gateway.aclose()

    return uvloop.run(main())


def test_span_tree_has_policy_attempts_and_upstream_calls_with_genai_attributes():
    engine = start_engine("--model", "m")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    exporter = InMemorySpanExporter()
    try:
        body = {
            "model": "m",
            "max_tokens": 20,
            "temperature": 0.5,
            "messages": [{"role": "user", "content": "a b c"}],
        }
        parent = {"traceparent": f"00-{CLIENT_TRACE}-b7ad6b7169203331-01", "x-request-id": "rid-1"}
        # round robin: one of two calls tries the dead backend first and fails over
        results = _run_gateway(engine.url, dead_port, exporter, [(body, parent), (body, parent)])
        sent = engine.get_json("/_stats")["last_request"]["headers"]
    finally:
        engine.stop()
    assert [r[0] for r in results] == [200, 200]
    roots = [s for s in exporter.get_finished_spans() if s.name == "chat m"]
    assert len(roots) == 2
    root = next(s for s in roots if s.attributes["comox.attempts"] == 2)
    every = exporter.get_finished_spans()
    assert root.kind is SpanKind.SERVER
    assert f"{root.context.trace_id:032x}" == CLIENT_TRACE  # the client's trace continues
    assert root.parent is not None and f"{root.parent.span_id:016x}" == "b7ad6b7169203331"
    attrs = root.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "m"
    assert attrs["gen_ai.request.max_tokens"] == 20 and attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.usage.output_tokens"] == 4 and attrs["gen_ai.usage.input_tokens"] > 0
    assert attrs["http.response.status_code"] == 200 and attrs["comox.backend"] == "good"
    assert attrs["comox.request_id"] == "rid-1" and attrs["comox.attempts"] == 2
    assert root.resource.attributes["service.name"] == "comox-test"
    children = [s for s in every if s.parent is not None and s.parent.span_id == root.context.span_id]
    assert [s.name for s in sorted(children, key=lambda s: s.start_time)] == [
        "policy",
        "attempt 1",
        "attempt 2",
    ]
    attempts = {s.attributes["comox.backend"]: s for s in children if s.name.startswith("attempt")}
    assert attempts["dead"].status.status_code is StatusCode.ERROR
    assert attempts["good"].attributes["http.response.status_code"] == 200
    ids = {s.context.span_id for s in children}
    upstream = [s for s in every if s.kind is SpanKind.CLIENT and s.parent.span_id in ids]
    assert len(upstream) == 2
    spans = [root, *children, *upstream]
    good_call = next(s for s in upstream if s.parent.span_id == attempts["good"].context.span_id)
    assert good_call.attributes["gen_ai.provider.name"] == "vllm"
    assert good_call.attributes["server.port"] == int(engine.url.rsplit(":", 1)[1])
    # the engine got the upstream span's context and the request id
    trace_id, span_id = sent["traceparent"].split("-")[1:3]
    to_good = {
        f"{s.context.span_id:016x}"
        for s in every
        if s.kind is SpanKind.CLIENT and s.attributes.get("http.response.status_code") == 200
    }
    assert trace_id == CLIENT_TRACE and span_id in to_good and len(to_good) == 2
    assert sent["x-request-id"] == "rid-1"
    for span in spans:  # every span inside its parent's time
        assert span.end_time >= span.start_time
        if span is not root:
            assert root.start_time <= span.start_time and span.end_time <= root.end_time + 2_000_000
