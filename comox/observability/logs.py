"""Structured logs: one JSON object per line on stderr, UTC timestamps, no secrets."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from datetime import UTC, datetime

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class Every:
    """True at most once per `seconds`, for warnings about an outage: a dependency that fails
    for every request must not write a log line for every request. Callers count every failure
    in their stats (and so in /metrics); the log only says that it is happening."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._last = -math.inf
        self.skipped = 0
        """Occasions passed over since the last True (reported with the next warning)."""

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            self.skipped += 1
            return False
        self._last = now
        return True

    def take_skipped(self) -> int:
        skipped, self.skipped = self.skipped, 0
        return skipped
