"""Requests leave no reference cycles behind.

Whatever a request allocates must be freed by reference counting when it ends. Cyclic garbage
is freed only by the cyclic GC, whose collections then run every few hundred requests and
stop the event loop for long enough to cost a fifth of the CPU (a Request <-> Call cycle once
did exactly that). An in-process gateway over real loopback, in front of the test engine
process, serves every kind of request; the GC then finds nothing from them to collect.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import gc
import json
import os
import socket
from collections.abc import Awaitable, Callable

import uvloop

from comox.config import parse_config
from comox.gateway import Gateway

ABANDON = "x-test-abandon"
"""A request with this header is left by the client as soon as the status line arrives."""


async def _exchange(port: int, requests: list[tuple[str, dict | bytes, dict[str, str]]]) -> list[int]:
    """Send each request on one keep-alive connection, then close it."""
    statuses = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for path, body, headers in requests:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n{head}\r\n".encode()
            + data
        )
        await writer.drain()
        line = await reader.readline()
        statuses.append(int(line.split()[1]))
        if ABANDON in headers:
            break
        length, chunked = None, False
        while (header := await reader.readline()) != b"\r\n":
            name, _, value = header.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding":
                chunked = True
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.readexactly(length or 0)
    writer.close()
    await writer.wait_closed()
    return statuses


def _garbage_after(
    config_yaml: str,
    requests: list,
    connections: int = 3,
    prepare: Callable[[Gateway], Awaitable[dict[str, str]]] | None = None,
) -> tuple[list[int], collections.Counter]:
    """Statuses of `connections` rounds of `requests` (after one warm-up round) and the types
    of every object the cyclic GC found unreachable after them."""
    config = parse_config(config_yaml, source="test")

    async def main():
        gateway = Gateway(config)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await gateway.start(sock)
        port = sock.getsockname()[1]
        nonlocal requests
        try:
            if prepare is not None:
                headers = await prepare(gateway)
                requests = [(path, body, {**more, **headers}) for path, body, more in requests]
            await _exchange(port, requests)  # warm-up: first-use caches are not garbage
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            statuses = []
            for _ in range(connections):
                statuses += await _exchange(port, requests)
            await asyncio.sleep(0.1)
            gc.collect()
            found = collections.Counter(type(o).__qualname__ for o in gc.garbage)
            return statuses, found
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            await gateway.drain(1.0)
            await gateway.aclose()

    return uvloop.run(main())


def test_requests_of_every_kind_leave_no_cyclic_garbage(engine):
    yaml = f"""
backends:
  - {{name: a, url: "{engine.url}", engine: vllm, models: [test-model, embed-model]}}
routing: {{health: {{enabled: false}}, scrape: {{enabled: false}}}}
observability: {{access_log: false}}
"""
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    requests = [
        ("/v1/chat/completions", chat, {}),
        ("/v1/chat/completions", {**chat, "stream": True}, {}),
        ("/v1/completions", {"model": "test-model", "prompt": "hi", "max_tokens": 4}, {}),
        ("/v1/embeddings", {"model": "embed-model", "input": "hi"}, {}),
        ("/v1/chat/completions", {**chat, "model": "nope"}, {}),
        ("/v1/chat/completions", b"{not json", {}),
        ("/v1/chat/completions", {**chat, "stream": True, "fake": {"token_ms": 50}}, {ABANDON: "1"}),
    ]
    statuses, garbage = _garbage_after(yaml, requests)
    assert statuses == [200, 200, 200, 200, 404, 400, 200] * 3
    assert garbage == collections.Counter(), garbage


def test_keyed_limited_audited_requests_leave_no_cyclic_garbage(engine, tmp_path):
    (tmp_path / "master.key").write_bytes(base64.b64encode(os.urandom(32)))
    (tmp_path / "checkpoint.key").write_bytes(base64.b64encode(os.urandom(32)))
    yaml = f"""
backends:
  - {{name: a, url: "{engine.url}", engine: vllm, models: [test-model]}}
routing: {{health: {{enabled: false}}, scrape: {{enabled: false}}}}
observability: {{access_log: true}}
store: sqlite:///{tmp_path}/comox.db
audit:
  enabled: true
  content: full
  store: sqlite:///{tmp_path}/audit.db
  master_key_file: {tmp_path}/master.key
  checkpoint_key_file: {tmp_path}/checkpoint.key
"""
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    requests = [
        ("/v1/chat/completions", chat, {}),
        ("/v1/chat/completions", {**chat, "stream": True}, {}),
        ("/v1/chat/completions", {**chat, "fake": {"fail_status": 500}}, {}),
        ("/v1/chat/completions", {**chat, "stream": True, "fake": {"error_after_chunks": 1}}, {}),
        ("/v1/messages", {"model": "test-model", "max_tokens": 4, "messages": [chat["messages"][0]]}, {}),
        ("/v1/responses", {"model": "test-model", "input": "hi"}, {}),
        ("/v1/chat/completions", {**chat, "model": "nope"}, {}),
    ]

    async def keyed(gateway: Gateway) -> dict[str, str]:
        registry = gateway.tenancy.registry
        await registry.ensure_tenant("t")
        secret, _ = await registry.create_key("t", rpm=10**6, tpm=10**9, token_budget=10**12)
        await gateway.tenancy.refresh()
        return {"authorization": f"Bearer {secret}", "x-api-key": secret}

    statuses, garbage = _garbage_after(yaml, requests, prepare=keyed)
    assert statuses == [200, 200, 500, 200, 200, 200, 404] * 3
    assert garbage == collections.Counter(), garbage
