"""Candidate proxy core for comparison: plain aiohttp server + pooled aiohttp ClientSession, on uvloop.

Forwards POST /v1/chat/completions to the engine and streams the answer back as it arrives
(iter_any), with a keep-alive upstream pool. No auth, routing or metrics: the cost of the
framework alone, as a yardstick next to nginx and comox in bench/run.sh.

    PORT=8203 UPSTREAM=http://127.0.0.1:8100 .venv/bin/python bench/candidates/aiohttp_proxy.py
"""

import asyncio
import contextlib
import os

import aiohttp
import uvloop
from aiohttp import web

PORT = int(os.environ.get("PORT", "8203"))
UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:8100").rstrip("/")
HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    try:
        up_cm = request.app["session"].post(UPSTREAM + "/v1/chat/completions", data=body, headers=headers)
        async with up_cm as up:
            resp = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in HOP:
                    resp.headers[k] = v
            if up.content_length is not None:
                resp.content_length = up.content_length
            await resp.prepare(request)
            async for data in up.content.iter_any():
                await resp.write(data)
            await resp.write_eof()
            return resp
    except (TimeoutError, aiohttp.ClientError) as exc:
        return web.json_response({"error": {"message": f"upstream: {exc!r}"}}, status=502)


async def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app["session"] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=600),
        auto_decompress=False,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT, backlog=4096).start()
    print(f"aiohttp proxy on 127.0.0.1:{PORT} -> {UPSTREAM}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await app["session"].close()
        await runner.cleanup()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main())
