"""One coarse timer for every deadline in the process.

Per-request `call_later` handles would be armed and cancelled several times per request;
instead each watched object carries a plain `deadline` float (loop time, 0 = none) and a
single periodic tick expires whatever has passed it. Setting a deadline is an assignment.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Watched(Protocol):
    deadline: float

    def expire(self) -> None: ...


class Watchdog:
    """Calls `expire()` on watched objects whose deadline has passed, `resolution` late at most."""

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = 0.25) -> None:
        self._loop = loop
        self._resolution = resolution
        self._watched: set[Watched] = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, obj: Watched) -> None:
        self._watched.add(obj)
        if self._handle is None:
            self._handle = self._loop.call_later(self._resolution, self._tick)

    def unwatch(self, obj: Watched) -> None:
        self._watched.discard(obj)

    def _tick(self) -> None:
        now = self._loop.time()
        expired = [obj for obj in self._watched if 0 < obj.deadline <= now]
        for obj in expired:
            obj.deadline = 0.0
            obj.expire()
        self._handle = self._loop.call_later(self._resolution, self._tick) if self._watched else None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._watched.clear()
