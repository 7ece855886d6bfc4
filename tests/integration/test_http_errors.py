"""Bad input, slow clients and failing engines: every case gets an OpenAI-shaped error
with the right status, and the gateway never hangs or leaks a traceback."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from comox.testing.processes import backend, gateway_config, start_gateway


@pytest.fixture(scope="module")
def gateway(engine):
    config = gateway_config(
        backend(engine.url, ["test-model"], read_timeout=1.5),
        backend("http://127.0.0.1:9", ["dead-model"], name="gone"),
        max_body_bytes=4096,
        max_header_bytes=2048,
        header_timeout=1.0,
        body_timeout=1.0,
    )
    proc = start_gateway(config)
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def reset(engine):
    engine.post_json("/_control/reset", {})


def post(gateway, path: str, body: bytes, ctype: str = "application/json") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", path, body, {"content-type": ctype})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data)


def assert_openai_error(payload: dict, code: str) -> dict:
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code, error
    assert "Traceback" not in error["message"]
    return error


CHAT = b'{"model":"test-model","messages":[{"role":"user","content":"hi"}]}'


def test_malformed_json_is_400(gateway):
    status, payload = post(gateway, "/v1/chat/completions", b'{"model": "test-model", ')
    assert status == 400
    assert_openai_error(payload, "invalid_json")


def test_json_that_is_not_an_object_is_400(gateway):
    status, payload = post(gateway, "/v1/chat/completions", b"[1, 2]")
    assert status == 400
    assert "object" in assert_openai_error(payload, "invalid_json")["message"]


def test_missing_model_is_400_naming_it(gateway):
    status, payload = post(gateway, "/v1/embeddings", b'{"input": "x"}')
    assert status == 400
    assert assert_openai_error(payload, "missing_field")["param"] == "model"


def test_body_over_the_limit_is_413(gateway):
    big = b'{"model":"test-model","messages":[{"role":"user","content":"' + b"x" * 5000 + b'"}]}'
    status, payload = post(gateway, "/v1/chat/completions", big)
    assert status == 413
    assert "4096" in assert_openai_error(payload, "request_too_large")["message"]


def test_chunked_body_over_the_limit_is_413(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request(
        "POST",
        "/v1/chat/completions",
        (b"x" * 1000 for _ in range(6)),
        {"content-type": "application/json"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 413
    assert_openai_error(json.loads(resp.read()), "request_too_large")


def test_wrong_content_type_is_415(gateway):
    status, payload = post(gateway, "/v1/chat/completions", CHAT, ctype="text/plain")
    assert status == 415
    assert "application/json" in assert_openai_error(payload, "unsupported_media_type")["message"]


def test_unknown_route_is_404_and_wrong_method_405(gateway):
    status, payload = post(gateway, "/v1/nothing-here", CHAT)
    assert status == 404
    assert_openai_error(payload, "unknown_route")
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("GET", "/v1/chat/completions")
    resp = conn.getresponse()
    assert resp.status == 405
    assert resp.getheader("allow") == "POST"
    assert_openai_error(json.loads(resp.read()), "method_not_allowed")


def test_unreachable_backend_is_502(gateway):
    body = b'{"model":"dead-model","messages":[{"role":"user","content":"hi"}]}'
    status, payload = post(gateway, "/v1/chat/completions", body)
    assert status == 502
    assert "gone" in assert_openai_error(payload, "upstream_unreachable")["message"]


def test_engine_that_never_answers_is_504_after_the_read_timeout(gateway, engine):
    engine.post_json("/_control", {"hang": True, "times": 1})
    started = time.monotonic()
    status, payload = post(gateway, "/v1/chat/completions", CHAT)
    took = time.monotonic() - started
    assert status == 504
    assert_openai_error(payload, "upstream_timeout")
    assert 1.4 <= took < 4.0


def test_backend_that_accepts_no_connection_is_504_after_the_connect_timeout(spawn, engine):
    # A listener whose accept queue is full: the kernel drops further SYNs, so connects hang.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    config = gateway_config(backend(f"http://127.0.0.1:{port}", ["stuck-model"], connect_timeout=0.5))
    gateway = spawn(start_gateway, config)
    started = time.monotonic()
    body = b'{"model":"stuck-model","messages":[{"role":"user","content":"hi"}]}'
    status, payload = post(gateway, "/v1/chat/completions", body)
    took = time.monotonic() - started
    filler.close()
    listener.close()
    assert status == 504
    assert "0.5 s" in assert_openai_error(payload, "upstream_connect_timeout")["message"]
    assert 0.4 <= took < 3.0


def test_engine_dying_mid_stream_ends_with_an_sse_error_event(gateway, engine):
    body = b'{"model":"test-model","stream":true,"messages":[{"role":"user","content":"a b c d e f"}]}'
    engine.post_json("/_control", {"die_after_chunks": 2, "times": 1})
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    events = [e for e in resp.read().decode().split("\n\n") if e.strip()]
    assert len(events) == 3  # two engine chunks, then the gateway's error event; no [DONE]
    last = json.loads(events[-1].removeprefix("data: "))
    assert last["error"]["code"] == "upstream_unreachable"
    assert "before the answer was complete" in last["error"]["message"]


def test_slow_headers_get_408_and_the_socket_is_closed(gateway):
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
    started = time.monotonic()
    data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 408")
    assert b"request_timeout" in data
    assert sock.recv(65536) == b""  # closed by the gateway
    assert time.monotonic() - started < 3.0
    sock.close()


def test_slow_body_gets_408(gateway):
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
    data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 408")
    assert b"body" in data
    sock.close()


def test_headers_over_the_limit_are_431(gateway):
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 3000 + b"\r\n\r\n")
    data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 431")
    sock.close()


def test_garbage_instead_of_http_is_400(gateway):
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
    data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")
    assert b"bad_http" in data
    sock.close()


def test_keep_alive_connection_serves_many_requests(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    for i in range(20):
        body = json.dumps({"model": "test-model", "messages": [{"role": "user", "content": f"n{i}"}]})
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        assert json.loads(resp.read())["choices"][0]["message"]["content"] == f"echo: n{i}"
    conn.close()


def test_health_and_ready(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().read() == b'{"status":"ok"}'
    conn.request("GET", "/ready")
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    assert resp.status == 200
    assert payload["backends"] == {"gpu-a": "up", "gone": "down"}


def test_head_gets_the_headers_and_no_body_on_a_kept_alive_connection(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("HEAD", "/health")
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.getheader("content-length")) > 0
    assert resp.read() == b""
    conn.request("GET", "/health")  # the same connection still parses cleanly
    assert conn.getresponse().read() == b'{"status":"ok"}'


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_slowest(gateway):
    """Three requests in one write: a slow one, a fast stream, then one that closes the
    connection. Each answer follows the one before it whole; the last closes the socket."""

    def chat(content: str, **extra) -> bytes:
        body = json.dumps(
            {"model": "test-model", "messages": [{"role": "user", "content": content}], **extra}
        )
        return (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            + ("connection: close\r\n" if content == "last" else "")
            + f"\r\n{body}"
        ).encode()

    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    sock.sendall(chat("slow", fake={"ttft_ms": 400}) + chat("fast", stream=True, max_tokens=3) + chat("last"))
    data = b""
    while chunk := sock.recv(65536):  # the gateway closes after "last"
        data += chunk
    sock.close()
    heads = [part.split(b"\r\n", 1)[0] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert heads == [b"200 OK"] * 3, data[:400]
    slow, fast, last = (data.find(marker) for marker in (b"echo: slow", b"data: ", b"echo: last"))
    assert -1 < slow < fast < last
    assert data.count(b"connection: close") == 1
