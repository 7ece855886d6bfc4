"""Routing and resilience with real engine processes: kills, ejections, load, affinity,
fallbacks and the cloud tier, observed through the x-comox-backend/attempts headers."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from comox.testing.processes import Proc, backend, gateway_config, start_engine, start_gateway

FAST_HEALTH = {"health": {"interval": 0.2, "timeout": 0.5, "unhealthy_threshold": 1, "healthy_threshold": 1}}


def chat(
    port: int, content: str = "hi", model: str = "m", headers: dict | None = None, **extra
) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": content}], **extra})
    conn.request(
        "POST", "/v1/chat/completions", body, {"content-type": "application/json", **(headers or {})}
    )
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data)


def engines(spawn, n: int, *args: str) -> list[Proc]:
    return [spawn(start_engine, "--model", "m", "--name", f"e{i}", *args) for i in range(n)]


def fleet(procs: list[Proc], **extra) -> list[dict]:
    return [backend(p.url, ["m"], name=f"e{i}", **extra) for i, p in enumerate(procs)]


def test_killing_one_of_three_engines_under_load_fails_no_request_and_it_comes_back(spawn):
    procs = engines(spawn, 3)
    routing = {**FAST_HEALTH, "outlier": {"consecutive_failures": 1, "base_ejection": 30.0}}
    gateway = spawn(start_gateway, gateway_config(*fleet(procs), routing=routing))
    results: list[tuple[float, int, str, int]] = []
    stop = threading.Event()
    killed_at: list[float] = []

    def worker() -> None:
        while not stop.is_set():
            status, headers, _ = chat(gateway.port)
            results.append(
                (time.monotonic(), status, headers["x-comox-backend"], int(headers["x-comox-attempts"]))
            )

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(worker)
        time.sleep(1.0)
        procs[1].signal(signal.SIGKILL)
        killed_at.append(time.monotonic())
        time.sleep(2.0)
        stop.set()
    assert results and all(status == 200 for _, status, _, _ in results), Counter(r[1] for r in results)
    after = [r for r in results if r[0] > killed_at[0] + 1.0]
    assert after and all(name != "e1" and attempts == 1 for _, _, name, attempts in after)
    assert {"e0", "e2"} <= {name for _, _, name, _ in after}

    port = procs[1].port  # restart on the same port: health checks put it back
    procs[1].stop()
    procs[1] = spawn(start_engine, "--model", "m", "--name", "e1", "--port", str(port))
    deadline = time.monotonic() + 5
    seen = set()
    while time.monotonic() < deadline and "e1" not in seen:
        seen.add(chat(gateway.port)[1]["x-comox-backend"])
    assert "e1" in seen


def test_engine_answering_503_is_ejected_by_passive_detection_before_the_next_probe(spawn):
    procs = engines(spawn, 2)
    routing = {"health": {"interval": 60}, "outlier": {"consecutive_failures": 2, "base_ejection": 30}}
    gateway = spawn(start_gateway, gateway_config(*fleet(procs), routing=routing))
    procs[0].post_json("/_control", {"fail_status": 503})
    results = [chat(gateway.port) for _ in range(12)]
    assert all(status == 200 for status, _, _ in results)
    assert all(h["x-comox-backend"] == "e1" for _, h, _ in results)
    late = [int(h["x-comox-attempts"]) for _, h, _ in results[6:]]
    assert late == [1] * 6  # e0 ejected: no more wasted attempts on it
    assert procs[0].get_json("/_stats")["requests"] <= 3


def test_hanging_engine_times_out_is_retried_elsewhere_and_ejected(spawn):
    procs = engines(spawn, 2)
    routing = {"health": {"interval": 60}, "outlier": {"consecutive_failures": 1, "base_ejection": 30}}
    config = gateway_config(*fleet(procs, read_timeout=0.5), routing=routing)
    gateway = spawn(start_gateway, config)
    procs[0].post_json("/_control", {"hang": True})
    results = [chat(gateway.port) for _ in range(6)]
    assert all(status == 200 and h["x-comox-backend"] == "e1" for status, h, _ in results)
    assert sum(int(h["x-comox-attempts"]) for _, h, _ in results) <= 7


def test_stream_already_sending_is_not_retried_when_its_engine_dies(spawn):
    procs = engines(spawn, 2)
    gateway = spawn(start_gateway, gateway_config(*fleet(procs), routing={"strategy": "round_robin"}))
    for p in procs:
        p.post_json("/_control", {"die_after_chunks": 2})
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d"}]})
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    assert resp.getheader("x-comox-attempts") == "1"
    events = [e for e in resp.read().decode().split("\n\n") if e.strip()]
    assert "error" in json.loads(events[-1].removeprefix("data: "))
    assert sum(p.get_json("/_stats")["requests"] for p in procs) == 1


def test_load_aware_routing_avoids_the_engine_reporting_a_long_queue(spawn):
    procs = engines(spawn, 3)
    routing = {"scrape": {"interval": 0.1}}
    gateway = spawn(start_gateway, gateway_config(*fleet(procs), routing=routing))
    procs[0].post_json("/_control", {"waiting": 50})
    time.sleep(0.6)
    counts = Counter(chat(gateway.port)[1]["x-comox-backend"] for _ in range(60))
    assert counts["e0"] == 0
    assert counts["e1"] >= 20 and counts["e2"] >= 20


def test_prefix_affinity_keeps_conversations_on_one_backend_with_even_spread(spawn):
    procs = engines(spawn, 3)
    gateway = spawn(start_gateway, gateway_config(*fleet(procs), routing={"strategy": "prefix_affinity"}))
    per_backend: Counter = Counter()
    stuck = 0

    def conversation(i: int) -> tuple[Counter, int]:
        messages = [{"role": "system", "content": "You are a helpful ship's cook."}]
        homes: Counter = Counter()
        for turn in range(10):
            messages.append({"role": "user", "content": f"conversation {i} turn {turn}"})
            conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=20)
            conn.request(
                "POST",
                "/v1/chat/completions",
                json.dumps({"model": "m", "messages": messages}),
                {"content-type": "application/json"},
            )
            resp = conn.getresponse()
            answer = json.loads(resp.read())["choices"][0]["message"]
            homes[resp.getheader("x-comox-backend")] += 1
            messages.append({"role": "assistant", "content": answer["content"]})
            conn.close()
        return homes, homes.most_common(1)[0][1]

    with ThreadPoolExecutor(6) as pool:
        for homes, on_home in pool.map(conversation, range(100)):
            per_backend.update(homes)
            stuck += on_home
    assert stuck >= 0.95 * 1000, stuck
    assert max(per_backend.values()) <= 1.5 * (1000 / 3), per_backend


def test_cloud_is_used_only_when_local_is_full_and_never_when_forbidden(spawn):
    local = spawn(start_engine, "--model", "m", "--token-ms", "300")
    cloud = spawn(start_engine, "--model", "m")
    config = gateway_config(
        backend(local.url, ["m"], name="local", max_concurrency=1),
        backend(cloud.url, ["m"], name="cloud", tier="cloud"),
    )
    gateway = spawn(start_gateway, config)
    assert [chat(gateway.port)[1]["x-comox-backend"] for _ in range(3)] == ["local"] * 3
    busy = threading.Thread(target=chat, args=(gateway.port, "one two three four five six"))
    busy.start()
    time.sleep(0.3)  # the local backend now has its one request in flight
    status, headers, _ = chat(gateway.port)
    assert status == 200 and headers["x-comox-backend"] == "cloud"
    status, _, payload = chat(gateway.port, headers={"x-comox-allow-cloud": "false"})
    assert status == 503
    assert payload["error"]["code"] == "no_capacity" and "cloud" in payload["error"]["message"]
    busy.join()
    assert cloud.get_json("/_stats")["requests"] == 1


def test_fallback_model_serves_when_the_primary_is_down_or_its_context_is_exceeded(spawn):
    small = spawn(start_engine, "--model", "small")
    big = spawn(start_engine, "--model", "big")
    config = gateway_config(
        backend(big.url, ["big"], name="big-gpu"),
        backend(small.url, ["small"], name="small-gpu"),
        backend("http://127.0.0.1:9", ["down"], name="dead"),
        routing={"models": {"big": {"fallbacks": ["small"]}, "down": {"fallbacks": ["small"]}}},
    )
    gateway = spawn(start_gateway, config)
    status, headers, _ = chat(gateway.port, model="down")
    assert status == 200 and headers["x-comox-backend"] == "small-gpu"
    big.post_json(
        "/_control",
        {
            "fail_status": 400,
            "times": 1,
            "fail_body": '{"error": {"message": "This model\'s maximum context length is 4096 tokens."}}',
        },
    )
    status, headers, _ = chat(gateway.port, model="big")
    assert status == 200 and headers["x-comox-backend"] == "small-gpu"
    big.post_json("/_control", {"fail_status": 400, "times": 1})
    status, headers, _ = chat(gateway.port, model="big")
    assert status == 400 and headers["x-comox-backend"] == "big-gpu"  # a plain client error is not rerouted


def test_429_moves_the_call_to_another_backend_and_is_passed_on_when_all_refuse(spawn):
    procs = engines(spawn, 2)
    gateway = spawn(start_gateway, gateway_config(*fleet(procs), routing={"strategy": "round_robin"}))
    procs[0].post_json("/_control", {"fail_status": 429})
    results = [chat(gateway.port) for _ in range(4)]
    assert all(status == 200 and h["x-comox-backend"] == "e1" for status, h, _ in results)
    assert sorted(int(h["x-comox-attempts"]) for _, h, _ in results) == [1, 1, 1, 2]
    procs[1].post_json("/_control", {"fail_status": 429})
    status, headers, payload = chat(gateway.port)
    assert status == 429
    assert int(headers["x-comox-attempts"]) == 3  # first try, then waited out the back-off once more
    assert "message" in payload["error"]


def test_running_out_of_descriptors_is_503_and_does_not_eject_the_backend(spawn, tmp_path):
    import resource
    import socket as socketlib

    engine = spawn(start_engine, "--model", "m", "--token-ms", "100")
    config = gateway_config(
        backend(engine.url, ["m"], name="e0"), routing={"outlier": {"consecutive_failures": 1}}
    )

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    gateway = spawn(start_gateway, config, preexec=low_fd_limit)
    body = json.dumps(
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
    )
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    socks, answers = [], Counter()
    for _ in range(30):
        sock = socketlib.create_connection(("127.0.0.1", gateway.port), timeout=5)
        sock.sendall(head + body.encode())
        socks.append(sock)
    for sock in socks:
        try:
            first = sock.recv(4096)
        except OSError:
            first = b""
        answers[first[:12].decode(errors="replace")] += 1
        if b"gateway_overloaded" in first:
            answers["overloaded"] += 1
    for sock in socks:
        sock.close()
    assert answers["HTTP/1.1 200"] >= 10
    assert answers["overloaded"] >= 1, answers
    time.sleep(1.0)
    status, headers, _ = chat(gateway.port)
    assert status == 200 and headers["x-comox-attempts"] == "1"
