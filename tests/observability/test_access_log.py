"""The access log writes one JSON line per request, in batches, without content or keys."""

from __future__ import annotations

import asyncio
import os

import orjson

from comox.observability.access_log import AccessLog
from comox.observability.exchanges import Exchanges
from comox.server.request import Request


def test_lines_are_batched_and_hold_no_headers_or_body():
    read, write = os.pipe()

    async def main():
        log = AccessLog(fd=write, interval=0.05, flush_every=1000)
        exchanges = Exchanges(["m"], access_log=log)
        for i in range(3):
            request = Request(
                b"POST",
                b"/v1/chat/completions",
                b"",
                {b"authorization": b"Bearer sk-secret"},
                b'{"messages": "private words"}',
                "127.0.0.1",
                started=asyncio.get_running_loop().time(),
                id=b"r%d" % i,
            )
            exchanges.finished(request, 401, False)
        assert os.read(read, 0) == b""  # nothing written yet: batched
        await asyncio.sleep(0.1)

    asyncio.run(main())
    os.close(write)
    data = os.read(read, 65536)
    os.close(read)
    lines = [orjson.loads(x) for x in data.splitlines()]
    assert [x["request_id"] for x in lines] == ["r0", "r1", "r2"]
    assert lines[0]["status"] == 401 and lines[0]["logger"] == "comox.access"
    assert lines[0]["ts"].endswith("+00:00")
    assert b"sk-secret" not in data and b"private" not in data
