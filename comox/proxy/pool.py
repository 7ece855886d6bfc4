"""Keep-alive connections to one backend, reused last-in first-out.

LIFO keeps a few connections hot and lets the rest age out; the idle list is bounded by
`max_idle` and swept by age, so the pool never grows past what traffic needs.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from comox.proxy.connection import UpstreamConnection
from comox.server.watchdog import Watchdog


@dataclass(frozen=True, slots=True)
class PoolConfig:
    host: str
    port: int
    use_tls: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    max_idle: int = 256
    idle_ttl: float = 60.0


@dataclass(slots=True)
class PoolStats:
    connects: int = 0
    reuses: int = 0
    connect_errors: int = 0
    idle_closed: int = 0


@dataclass(eq=False)
class UpstreamPool:
    config: PoolConfig
    watchdog: Watchdog
    stats: PoolStats = field(default_factory=PoolStats)
    _idle: list[UpstreamConnection] = field(default_factory=list)
    _ssl: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.config.use_tls:
            self._ssl = ssl.create_default_context()

    def take(self) -> UpstreamConnection | None:
        """An idle live connection, or None (then `connect`): no coroutine on the hot path."""
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                conn.reused = True
                self.stats.reuses += 1
                return conn
            self.discard(conn)
        return None

    async def connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(cfg.read_timeout),
                    cfg.host,
                    cfg.port,
                    ssl=self._ssl,
                    server_hostname=cfg.host if self._ssl else None,
                )
        except BaseException:
            self.stats.connect_errors += 1
            raise
        self.stats.connects += 1
        self.watchdog.watch(conn)
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange completed; it is closed if it cannot be reused."""
        if not conn.usable or not conn.keep_alive or len(self._idle) >= self.config.max_idle:
            self.discard(conn)
            return
        conn.idle_since = conn.loop.time()
        self._idle.append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        self.watchdog.unwatch(conn)
        if conn.transport is not None:
            conn.transport.close()

    def sweep(self, now: float) -> None:
        """Close idle connections older than the TTL (called periodically)."""
        keep = []
        for conn in self._idle:
            if conn.usable and now - conn.idle_since < self.config.idle_ttl:
                keep.append(conn)
            else:
                self.stats.idle_closed += 1
                self.discard(conn)
        self._idle = keep

    @property
    def idle(self) -> int:
        return len(self._idle)

    def close(self) -> None:
        for conn in self._idle:
            self.discard(conn)
        self._idle = []
