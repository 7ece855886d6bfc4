"""What the fake engine reports: /_stats for tests and /metrics (vLLM names) for scrapers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

MAX_PATHS = 256
MAX_BODIES = 1000
"""Raw bodies of the latest /v1/ requests kept for /_stats/bodies (tests search them)."""
OUTCOMES = ("completed", "cancelled", "failed", "aborted")


class RecordedRequest(Protocol):
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class MetricCounters:
    """Monotonic counters behind /metrics; like a real engine's they only reset on restart."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    success: dict[str, int] = field(default_factory=lambda: {"stop": 0, "length": 0})


class InFlight:
    """One generation request between its arrival and its outcome; finish() counts only once."""

    def __init__(self, stats: EngineStats) -> None:
        self._stats = stats
        self.done = False
        stats.requests += 1
        stats.active += 1

    def finish(self, outcome: str) -> None:
        if self.done:
            return
        self.done = True
        self._stats.active -= 1
        self._stats.outcomes[outcome] += 1


class EngineStats:
    """Counters behind GET /_stats. reset() clears everything except `active`, which is a gauge."""

    def __init__(self) -> None:
        self.active = 0
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.by_path: dict[str, int] = {}
        self._last: RecordedRequest | None = None
        self.bodies: list[str] = []

    def start(self) -> InFlight:
        return InFlight(self)

    def record(self, request: RecordedRequest) -> None:
        """Count a request by path; keep the last /v1/ request for inspection."""
        path = request.path if request.path in self.by_path or len(self.by_path) < MAX_PATHS else "<other>"
        self.by_path[path] = self.by_path.get(path, 0) + 1
        if request.path.startswith("/v1/"):
            self._last = request
            self.bodies = [*self.bodies[-(MAX_BODIES - 1) :], request.body.decode("utf-8", "replace")]

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "active": self.active,
            **self.outcomes,
            "by_path": dict(self.by_path),
            "last_request": _describe(self._last),
            "bodies": self.bodies,
        }


def _describe(request: RecordedRequest | None) -> dict[str, Any] | None:
    if request is None:
        return None
    try:
        body = orjson.loads(request.body) if request.body else None
    except orjson.JSONDecodeError:
        body = request.body.decode("utf-8", "replace")
    return {"method": request.method, "path": request.path, "headers": dict(request.headers), "body": body}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(
    model: str, running: int, waiting: int, kv_cache_usage: float, counters: MetricCounters
) -> bytes:
    """Prometheus text exposition (0.0.4) with vLLM's metric names, all labelled model_name=<model>."""
    labels = f'model_name="{_label(model)}"'
    families = (
        ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", running),
        ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", waiting),
        (
            "vllm:gpu_cache_usage_perc",
            "gauge",
            "GPU KV-cache usage. 1 means 100 percent usage.",
            kv_cache_usage,
        ),
        ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", kv_cache_usage),
        (
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            counters.prompt_tokens,
        ),
        (
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            counters.generation_tokens,
        ),
    )
    lines: list[str] = []
    for name, kind, help_text, value in families:
        lines += [
            f"# HELP {name} {help_text}",
            f"# TYPE {name} {kind}",
            f"{name}{{{labels}}} {float(value)!r}",
        ]
    name = "vllm:request_success_total"
    lines += [f"# HELP {name} Count of successfully processed requests.", f"# TYPE {name} counter"]
    lines += [
        f'{name}{{finished_reason="{_label(reason)}",{labels}}} {float(n)!r}'
        for reason, n in counters.success.items()
    ]
    return ("\n".join(lines) + "\n").encode()
