"""/metrics after real traffic through real processes: counters and histograms move as they
should, with one worker and with several (a scrape of any worker shows them all)."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from comox.testing.processes import backend, gateway_config, start_engine, start_gateway
from comox.testing.scrape import scrape, total

FAST = {"health": {"interval": 0.2}, "scrape": {"interval": 0.2}}


def post(port: int, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("POST", path, body, {"content-type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def chat(port: int, model: str = "m", stream: bool = False, content: str = "one two three") -> tuple:
    body = json.dumps({"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]})
    return post(port, "/v1/chat/completions", body.encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, check, timeout: float = 5.0) -> dict:
    """Scrape until `check(samples)` holds (other workers' snapshots lag by write_interval)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_streams_errors_and_failovers_across_workers(spawn, workers):
    good = spawn(start_engine, "--model", "m", "--name", "good", "--token-ms", "2")
    good.post_json("/_control", {"waiting": 3, "kv_cache_usage": 0.25})
    dead = free_port()  # nothing listens: connect refused, the call fails over
    config = gateway_config(
        backend(f"http://127.0.0.1:{dead}", ["m"], name="dead"),
        backend(good.url, ["m"], name="good"),
        workers=workers,
        routing=FAST,
    )
    config["observability"] = {"metrics": {"write_interval": 0.2}, "access_log": True}
    gw = spawn(start_gateway, config)
    url = gw.url + "/metrics"
    wait_for(url, lambda s: total(s, "comox_workers") == workers)  # every worker is up
    n = 16
    for i in range(n):  # enough requests that with 2 workers both take some
        status, headers, _ = chat(gw.port, stream=bool(i % 2))
        assert status == 200 and headers["x-comox-backend"] == "good"
        assert headers["x-request-id"]
    assert chat(gw.port, model="nope")[0] == 404
    assert post(gw.port, "/v1/chat/completions", b"{not json")[0] == 400
    time.sleep(0.3)  # access log lines are written in batches
    pids = {json.loads(x)["pid"] for x in gw.log if '"comox.access"' in x and "chat/completions" in x}
    assert len(pids) == workers  # the kernel spread the connections: the scrape must merge

    def all_in(samples) -> bool:
        return total(samples, "comox_requests_total", code="200") == n and total(
            samples, "comox_requests_total", code="400"
        )

    for _ in range(3):  # any worker's scrape shows everything
        s = wait_for(url, all_in)
        assert total(s, "comox_requests_total", api="chat", model="m", backend="good", code="200") == n
    assert total(s, "comox_requests_total", model="unknown", code="404") == 1
    assert total(s, "comox_requests_total", api="chat", model="", code="400") == 1
    # histograms: every request observed once; TTFT and inter-token latency for streams only
    assert total(s, "comox_request_duration_seconds_count", model="m", backend="good") == n
    assert total(s, "comox_request_duration_seconds_bucket", model="m", le="+Inf") == n
    assert total(s, "comox_time_to_first_token_seconds_count", model="m") == n // 2
    assert total(s, "comox_inter_token_latency_seconds_count", model="m") == n // 2
    # tokens: the engine echoes "echo: one two three" (prompt counted by words)
    assert total(s, "comox_tokens_total", model="m", type="output") == n * 4
    assert total(s, "comox_tokens_total", model="m", type="input") > 0
    # failover: the dead backend was tried and failed before the good one answered
    assert total(s, "comox_retries_total") >= 1
    assert total(s, "comox_backend_failures_total", backend="dead") >= 1
    assert total(s, "comox_backend_attempts_total", backend="good") == n
    assert total(s, "comox_workers") == workers
    assert 1 <= total(s, "comox_inflight_requests") <= workers  # scrapes (a snapshot may hold one)
    s = wait_for(url, lambda s: total(s, "comox_backend_healthy", backend="dead") == 0)
    assert total(s, "comox_backend_healthy", backend="dead") == 0
    assert total(s, "comox_backend_healthy", backend="good") == 1
    assert total(s, "comox_backend_breaker_state", backend="good", state="closed") == 1
    # the engine's own gauges, re-exposed per backend
    s = wait_for(url, lambda s: total(s, "comox_engine_waiting_requests", backend="good") == 3)
    assert total(s, "comox_engine_waiting_requests", backend="good") == 3
    assert total(s, "comox_engine_kv_cache_usage_ratio", backend="good") == 0.25


def test_client_request_id_is_returned_forwarded_and_logged(spawn):
    engine = spawn(start_engine, "--model", "m")
    gw = spawn(
        start_gateway, {**gateway_config(backend(engine.url, ["m"])), "observability": {"access_log": True}}
    )
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    status, headers, _ = post(gw.port, "/v1/chat/completions", body, {"x-request-id": "trace-me-42"})
    assert status == 200 and headers["x-request-id"] == "trace-me-42"
    assert engine.get_json("/_stats")["last_request"]["headers"]["x-request-id"] == "trace-me-42"
    bad = "x" * 300  # too long: replaced by a generated id, which errors get too
    status, headers, _ = post(gw.port, "/v1/chat/completions", b"[]", {"x-request-id": bad})
    assert status == 400 and headers["x-request-id"] not in ("", bad)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in gw.log if '"comox.access"' in x]
        if len(lines) >= 2:
            break
        time.sleep(0.05)
    first = next(x for x in lines if x["request_id"] == "trace-me-42")
    assert first["status"] == 200 and first["model"] == "m" and first["backend"] == "gpu-a"
    assert first["output_tokens"] == 2 and "messages" not in json.dumps(first)
    assert any(x["status"] == 400 and x["request_id"] == headers["x-request-id"] for x in lines)
