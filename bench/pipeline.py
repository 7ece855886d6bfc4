"""The gateway's own Python cost per request, without the kernel: a real `Gateway` built from
a config, fed raw HTTP requests through its real client `Connection`, with upstream
connections whose transport answers each request at once with a canned engine response.

Everything the gateway runs per request runs here (parsing, routing, stages, metrics, the
task per request, the reply head); sockets, syscalls and other processes do not, so the
figure is stable on a busy machine and shows what a change to the pipeline saves.

    .venv/bin/python bench/pipeline.py [CONFIG.yaml ...]     (default: bench/variants/default.yaml)
    N=50000 ROUNDS=5 PROFILE=1 ...                           (PROFILE: cProfile the last config)
    ABLATE=routing ...                                       (each config also without the routing layer)
    KEYS=1 ...                                               (requests carry a key with rpm/tpm/budget limits)

ABLATE=routing measures what the routing layer costs per request, everything else equal: the
same gateway with the routing layer taken out as `bench/routing_off.py` does.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import uvloop

from comox.config.loader import parse_config
from comox.gateway import Gateway
from comox.proxy.connection import UpstreamConnection

REQUEST_BODY = b'{"model":"bench","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer sk-bench\r\nContent-Length: %d\r\n\r\n%s" % (len(REQUEST_BODY), REQUEST_BODY)
)
ANSWER_BODY = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"' + b"tok " * 32 + b'"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":32,"total_tokens":44}}'
)
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(ANSWER_BODY),
    ANSWER_BODY,
)


class Transport:
    """What the protocols write to; the engine side answers each write in the next loop turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop, answer_to=None) -> None:
        self.loop, self.answer_to, self.written = loop, answer_to, 0

    def write(self, data: bytes) -> None:
        self.written += 1
        if self.answer_to is not None:
            self.loop.call_soon(self.answer_to.data_received, ANSWER)

    def writelines(self, parts) -> None:
        self.write(b"".join(parts))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 50000) if name == "peername" else default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None: ...


async def run(config_path: str, n: int, rounds: int) -> list[float]:
    loop = asyncio.get_running_loop()
    text = Path(config_path).read_text().replace("${UP_PORT}", "9")
    gateway = Gateway(parse_config(text, config_path, env=dict(os.environ)))
    await gateway.tenancy.start()
    if gateway.audit is not None:
        await gateway.audit.start()
    request = REQUEST
    if os.environ.get("KEYS"):  # a key with request, token and budget limits, counted as configured
        request = await _with_key(gateway)
    for backend in gateway.backends:  # every exchange gets an engine that answers at once
        upstream = UpstreamConnection(backend.pool.config.read_timeout)
        upstream.connection_made(Transport(loop, upstream))
        backend.pool.take = lambda upstream=upstream: upstream
    client = gateway.protocol()
    replies = Transport(loop)
    client.connection_made(replies)
    results = []
    for _ in range(rounds + 1):
        cpu = time.process_time()
        for _ in range(n):
            before = replies.written
            client.data_received(request)
            while replies.written == before:
                await asyncio.sleep(0)
        results.append((time.process_time() - cpu) / n * 1e6)
    await gateway.tenancy.aclose()
    if gateway.audit is not None:
        await gateway.audit.aclose()
    return results[1:]  # the first round warms up


def main() -> None:
    configs = sys.argv[1:] or ["bench/variants/default.yaml"]
    n, rounds = int(os.environ.get("N", "20000")), int(os.environ.get("ROUNDS", "5"))
    for config in configs:
        if os.environ.get("PROFILE") and config == configs[-1]:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            uvloop.run(run(config, n, 1))
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
            continue
        report(config, uvloop.run(run(config, n, rounds)), rounds, n)
    if os.environ.get("ABLATE") == "routing":  # after every normal run: the patch is for good
        from routing_off import without_routing

        without_routing()
        for config in configs:
            report(config + " (routing off)", uvloop.run(run(config, n, rounds)), rounds, n)


async def _with_key(gateway: Gateway) -> bytes:
    registry = gateway.tenancy.registry
    await registry.ensure_tenant("bench")
    big = 10**12
    limits = {"rpm": big, "tpm": big, "token_budget": big} if os.environ["KEYS"] != "bare" else {}
    secret, _ = await registry.create_key("bench", **limits)
    await gateway.tenancy.refresh()
    return REQUEST.replace(b"sk-bench", secret.encode())


def report(label: str, figures: list[float], rounds: int, n: int) -> None:
    print(
        f"{label:55s} {statistics.median(figures):6.2f} us CPU/request "
        f"(median of {rounds} x {n}; min {min(figures):.2f})"
    )


if __name__ == "__main__":
    main()
