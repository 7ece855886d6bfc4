"""A controllable vLLM-like OpenAI-compatible inference engine, run as a subprocess by tests.

    python -m comox.testing.fake_engine --port 8100 [--host 127.0.0.1] [--model NAME ...]
        [--ttft-ms 0] [--token-ms 0] [--tokens N] [--name ENGINE_ID]
        [--api openai|anthropic] [--api-key KEY]

Prints exactly one line, "READY <port>", once listening (--port 0 picks a free port), and
exits with status 0 on SIGTERM/SIGINT. Routes: POST /v1/chat/completions, POST /v1/completions,
POST /v1/embeddings, GET /v1/models, GET /health, GET /metrics, plus the test hooks
GET|POST /_control, POST /_control/reset, GET /_stats, POST /_stats/reset.
With --api anthropic the generation route is Anthropic's POST /v1/messages instead
(fake_engine_anthropic), with Anthropic's error shapes and stream events.
Every response carries "x-fake-engine: <ENGINE_ID>" (default "fake-<port>").

Modules: fake_engine_http (HTTP/1.1 on httptools), fake_engine_app (routes and config),
fake_engine_inference (generation and controls), fake_engine_openai (wire format),
fake_engine_controls, fake_engine_stats.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import socket
import sys
from collections.abc import Callable

import uvloop

from comox.testing.fake_engine_app import EngineConfig, FakeEngine
from comox.testing.fake_engine_http import HttpConnection

__all__ = ["EngineConfig", "FakeEngine", "main", "parse_args", "serve"]

log = logging.getLogger("comox.testing.fake_engine")
SHUTDOWN_GRACE_S = 2.0


def parse_args(argv: list[str] | None = None) -> EngineConfig:
    parser = argparse.ArgumentParser(
        prog="python -m comox.testing.fake_engine", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--model", action="append", dest="models", help='repeatable; default "test-model"')
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="default delay to the first token")
    parser.add_argument("--token-ms", type=float, default=0.0, help="default delay between tokens")
    parser.add_argument("--tokens", type=int, default=None, help="force answer length (default: from prompt)")
    parser.add_argument(
        "--name", default="", help='engine id for the x-fake-engine header (default "fake-<port>")'
    )
    parser.add_argument("--api", default="openai", choices=("openai", "anthropic"), help="API family served")
    parser.add_argument("--api-key", default=None, help="require this key on /v1/ requests")
    args = parser.parse_args(argv)
    config = EngineConfig(
        host=args.host,
        port=args.port,
        models=tuple(args.models or ("test-model",)),
        ttft_ms=args.ttft_ms,
        token_ms=args.token_ms,
        tokens=args.tokens,
        name=args.name,
        api=args.api,
        api_key=args.api_key,
    )
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    return config


def _announce(port: int) -> None:
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()


async def serve(config: EngineConfig, on_ready: Callable[[int], None] = _announce) -> None:
    """Serve until SIGTERM/SIGINT, then drop every connection and return."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connections: set[HttpConnection] = set()
    sock = socket.create_server((config.host, config.port), backlog=1024)
    port = sock.getsockname()[1]
    config = dataclasses.replace(config, port=port, name=config.name or f"fake-{port}")
    engine = FakeEngine(config)
    headers = [("x-fake-engine", config.name)]
    server = await loop.create_server(lambda: HttpConnection(engine.handle, connections, headers), sock=sock)
    on_ready(port)
    try:
        await stop.wait()
    finally:
        server.close()
        for conn in list(connections):
            conn.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        try:
            await asyncio.wait_for(server.wait_closed(), SHUTDOWN_GRACE_S)
        except TimeoutError:
            log.warning("fake engine: connections still open after %.1f s; exiting anyway", SHUTDOWN_GRACE_S)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    uvloop.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
