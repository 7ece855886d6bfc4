"""The access log: one JSON line per request, written in batches.

Lines are built with orjson and handed to the file descriptor in one write per batch (every
`flush_every` lines or `interval` seconds, whichever comes first), because a `logging`
record per request would cost more than the rest of the gateway's work on it. A line holds
ids, route, status, timings and token counts: never content, never keys or headers.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

import orjson


class AccessLog:
    def __init__(self, fd: int = 2, interval: float = 0.2, flush_every: int = 256) -> None:
        self._fd = fd
        self._interval = interval
        self._flush_every = flush_every
        self._lines: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""
        self._pid = os.getpid()

    def timestamp(self, now: float) -> str:
        """UTC ISO-8601 with milliseconds; the seconds part is formatted once per second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._stamp}.{int((now - second) * 1000):03d}+00:00"

    def write(self, fields: dict) -> None:
        entry = {
            "ts": self.timestamp(time.time()),
            "level": "info",
            "logger": "comox.access",
            "msg": "request",
            "pid": self._pid,
        }
        entry.update(fields)
        self._lines.append(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
        if len(self._lines) >= self._flush_every:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data, self._lines = b"".join(self._lines), []
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            pass  # a closed log pipe must not take the gateway down
