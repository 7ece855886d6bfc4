"""Process lifecycle: client disconnects reach the engine, SIGTERM drains, workers share a
port, and the config checker reports errors."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import openai
import pytest

from comox.testing.processes import backend, gateway_config, start_engine, start_gateway, write_config

STREAM = b'{"model":"test-model","stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}]}'


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_client_disconnect_cancels_the_engine_request_at_once(spawn):
    engine = spawn(start_engine, "--model", "test-model", "--token-ms", "200")
    gateway = spawn(start_gateway, gateway_config(backend(engine.url, ["test-model"])))
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len(STREAM)}\r\n\r\n"
    sock.sendall(head.encode() + STREAM)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert wait_for(lambda: engine.get_json("/_stats")["active"] == 1)
    sock.close()
    closed_at = time.monotonic()
    assert wait_for(lambda: engine.get_json("/_stats")["cancelled"] == 1, timeout=2.0)
    assert time.monotonic() - closed_at < 1.0
    stats = engine.get_json("/_stats")
    assert stats["active"] == 0 and stats["completed"] == 0


def test_client_disconnect_while_waiting_for_first_token_cancels_too(spawn):
    engine = spawn(start_engine, "--model", "test-model", "--ttft-ms", "5000")
    gateway = spawn(start_gateway, gateway_config(backend(engine.url, ["test-model"])))
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    body = STREAM.replace(b'"stream":true', b'"stream":false')
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)
    assert wait_for(lambda: engine.get_json("/_stats")["active"] == 1)
    sock.close()
    assert wait_for(lambda: engine.get_json("/_stats")["cancelled"] == 1, timeout=2.0)


def test_sigterm_lets_a_stream_in_flight_finish_then_exits_zero(spawn):
    engine = spawn(start_engine, "--model", "test-model", "--token-ms", "100")
    gateway = spawn(start_gateway, gateway_config(backend(engine.url, ["test-model"]), drain_timeout=10))
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", STREAM, {"content-type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    first = resp.readline()
    assert first.startswith(b"data: ")
    gateway.signal(signal.SIGTERM)
    assert wait_for(lambda: not accepts(gateway.port), timeout=3.0)  # new connections refused
    rest = resp.read().decode()
    assert rest.rstrip().endswith("data: [DONE]")
    assert gateway.proc.wait(10) == 0
    assert engine.get_json("/_stats")["completed"] == 1


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_drain_timeout_cuts_streams_that_run_too_long(spawn):
    engine = spawn(start_engine, "--model", "test-model", "--token-ms", "1000")
    gateway = spawn(start_gateway, gateway_config(backend(engine.url, ["test-model"]), drain_timeout=1))
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", STREAM, {"content-type": "application/json"})
    assert conn.getresponse().status == 200
    started = time.monotonic()
    gateway.signal(signal.SIGTERM)
    assert gateway.proc.wait(10) == 0
    assert time.monotonic() - started < 4.0
    assert wait_for(lambda: engine.get_json("/_stats")["cancelled"] == 1)


def test_two_workers_share_the_port_and_both_serve(spawn):
    engine = spawn(start_engine, "--model", "test-model")
    gateway = spawn(start_gateway, gateway_config(backend(engine.url, ["test-model"])), "--workers", "2")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0, timeout=10)
    assert wait_for(lambda: sum("listening on" in line for line in gateway.log) == 2)
    pids = {json.loads(line)["pid"] for line in gateway.log if "listening on" in line}
    assert len(pids) == 2
    for i in range(20):
        reply = client.with_options(max_retries=0).chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": f"w{i}"}]
        )
        assert reply.choices[0].message.content == f"echo: w{i}"
    client.close()
    gateway.signal(signal.SIGTERM)
    assert gateway.proc.wait(10) == 0


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "comox.cli", *args], capture_output=True, text=True, timeout=30
    )


def test_config_check_accepts_a_valid_file(tmp_path):
    path = write_config(gateway_config(backend("http://127.0.0.1:8100", ["m"])), str(tmp_path))
    result = run_cli("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_config_check_reports_what_is_wrong_and_exits_nonzero(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "server: {prot: 8080}\nbackends:\n  - name: a\n    url: ftp://x\n    engine: vlm\n    models: [m]\n"
    )
    result = run_cli("config", "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "server.prot" in result.stderr and "port" in result.stderr
    assert "backends[0].engine" in result.stderr and "vllm" in result.stderr
    assert "backends[0].url" in result.stderr
    assert str(path) in result.stderr


def test_serve_with_a_broken_config_exits_2_with_the_report(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("backends: []\n")
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2
    assert "backends" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ({"store": "postgres://comox:s3cret@127.0.0.1:1/test"}, "key and usage store"),
        (
            {
                "agents": {
                    "enabled": True,
                    "store": "postgres://comox:s3cret@127.0.0.1:1/x",
                    "embedding": "hashed",
                }
            },
            "agents store",
        ),
    ],
)
def test_a_store_that_cannot_be_reached_stops_the_start_with_one_clear_line(tmp_path, extra, what):
    config = gateway_config(backend("http://127.0.0.1:8100", ["m"]))
    config.update(extra)
    path = write_config(config, str(tmp_path))
    result = run_cli("serve", "--config", str(path), "--port", "0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and f"cannot open the {what}" in result.stderr
    assert "s3cret" not in result.stderr and "comox:***@127.0.0.1:1" in result.stderr


def test_a_port_in_use_stops_the_start_with_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(gateway_config(backend("http://127.0.0.1:8100", ["m"])), str(tmp_path))
        result = run_cli("serve", "--config", str(path), "--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and f"cannot listen on 127.0.0.1:{port}" in result.stderr
