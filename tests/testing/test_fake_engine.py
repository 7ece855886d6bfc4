"""The fake engine as a real subprocess: the OpenAI SDK for the API, raw HTTP for the test controls."""

from __future__ import annotations

import http.client
import json
import math
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "test-model"
STARTUP_TIMEOUT_S = 10.0


class Engine:
    """A running `python -m comox.testing.fake_engine` child process."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "comox.testing.fake_engine", "--port", "0", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        watchdog = threading.Timer(STARTUP_TIMEOUT_S, self.proc.kill)  # a silent engine must not block us
        watchdog.start()
        try:
            self.ready_line = self.proc.stdout.readline().decode()  # printed once listening
        finally:
            watchdog.cancel()
        match = re.fullmatch(r"READY (\d+)\n", self.ready_line)
        if match is None:
            self.stop()
            raise RuntimeError(f"fake engine did not start: {self.ready_line!r}")
        self.port = int(match.group(1))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        return self.proc.returncode

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"http://127.0.0.1:{self.port}/v1", api_key="x", max_retries=0, timeout=5
        )

    def connect(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, dict, bytes]:
        conn = self.connect()
        try:
            data = raw if raw is not None else None if body is None else json.dumps(body).encode()
            conn.request(method, path, data, {"content-type": "application/json"})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, _, data = self.call(method, path, body)
        assert status == 200, data
        return json.loads(data)

    def stats(self) -> dict[str, Any]:
        return self.json("GET", "/_stats")

    def wait_stats(self, check: Callable[[dict[str, Any]], bool], timeout: float = 2.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if check(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = Engine()
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "engine" in request.fixturenames:
        eng = request.getfixturevalue("engine")
        eng.json("POST", "/_control/reset")
        eng.json("POST", "/_stats/reset")


def chat_body(text: str = "hello world", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def open_stream(eng: Engine, fake: dict[str, Any], timeout: float = 5.0) -> http.client.HTTPResponse:
    conn = eng.connect(timeout)
    conn.request("POST", "/v1/chat/completions", json.dumps(chat_body(stream=True, fake=fake)))
    return conn.getresponse()


def events(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line.startswith(b"data: ")]


# --- process lifecycle and CLI flags ---


def test_cli_flags_ready_line_and_clean_exit() -> None:
    eng = Engine("--model", "a", "--model", "b", "--tokens", "3", "--name", "gpu-7")
    try:
        assert eng.ready_line == f"READY {eng.port}\n"
        client = eng.client()
        assert [m.id for m in client.models.list().data] == ["a", "b"]
        answer = client.chat.completions.create(model="b", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "echo: hi tok"
        assert answer.model == "b"
        status, headers, _ = eng.call("GET", "/health")
        assert (status, headers["x-fake-engine"]) == (200, "gpu-7")
        assert b'model_name="a"' in eng.call("GET", "/metrics")[2]
    finally:
        assert eng.stop(signal.SIGTERM) == 0
    other = Engine()
    try:
        assert other.call("GET", "/health")[1]["x-fake-engine"] == f"fake-{other.port}"
    finally:
        assert other.stop(signal.SIGINT) == 0


# --- the OpenAI API, through the official SDK ---


def test_chat_non_stream(engine: Engine) -> None:
    answer = engine.client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello big world"}],
    )
    assert answer.id.startswith("chatcmpl-") and answer.object == "chat.completion"
    assert answer.model == MODEL and answer.created > 0
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "echo: hello big world"
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        5,
        4,
        9,
    )


def test_chat_stream(engine: Engine) -> None:
    chunks = list(
        engine.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello world"}], stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ["echo:", " hello", " world"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None and c.choices for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].object == "chat.completion.chunk"


def test_stream_include_usage(engine: Engine) -> None:
    chunks = list(
        engine.client().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=2,
        )
    )
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 2)
    assert chunks[-2].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks[:-1])
    status, _, data = engine.call("POST", "/v1/chat/completions", chat_body(stream=True))
    assert status == 200 and events(data)[-1] == b"data: [DONE]" and b'"usage"' not in data


def test_max_tokens_truncates(engine: Engine) -> None:
    answer = engine.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a b c d"}], max_completion_tokens=3
    )
    assert answer.choices[0].message.content == "echo: a b"
    assert answer.choices[0].finish_reason == "length" and answer.usage.completion_tokens == 3


def test_completions(engine: Engine) -> None:
    client = engine.client()
    answer = client.completions.create(model=MODEL, prompt="say this", max_tokens=2)
    assert answer.id.startswith("cmpl-") and answer.object == "text_completion"
    assert (answer.choices[0].text, answer.choices[0].finish_reason) == ("echo: say", "length")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 2)
    many = client.completions.create(model=MODEL, prompt=["x", "y z"])
    assert [(c.index, c.text) for c in many.choices] == [(0, "echo: x"), (1, "echo: y z")]
    stream = list(client.completions.create(model=MODEL, prompt="a b", stream=True))
    assert "".join(c.choices[0].text for c in stream) == "echo: a b"
    assert stream[-1].choices[0].finish_reason == "stop"


def test_embeddings(engine: Engine) -> None:
    client = engine.client()
    first = client.embeddings.create(model=MODEL, input=["alpha", "beta gamma"])  # SDK asks for base64
    assert [d.index for d in first.data] == [0, 1] and first.usage.prompt_tokens == 3
    vec = first.data[0].embedding
    assert len(vec) == 384 and math.isclose(math.fsum(v * v for v in vec), 1.0, rel_tol=1e-5)
    assert first.data[0].embedding != first.data[1].embedding
    again = engine.json("POST", "/v1/embeddings", {"model": MODEL, "input": "alpha", "dimensions": 384})
    assert again["data"][0]["embedding"] == pytest.approx(vec, abs=1e-6)
    small = client.embeddings.create(model=MODEL, input=[[1, 2, 3]], dimensions=16)
    assert len(small.data[0].embedding) == 16 and small.usage.prompt_tokens == 3


def test_models(engine: Engine) -> None:
    models = engine.client().models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].owned_by == "vllm" and models[0].model_extra["max_model_len"] == 4096


def test_errors(engine: Engine) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        engine.client().chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["type"] == "NotFoundError" and caught.value.body["code"] == 404
    status, _, data = engine.call("POST", "/v1/chat/completions", raw=b"{not json")
    assert status == 400 and json.loads(data)["error"]["type"] == "BadRequestError"
    assert engine.call("POST", "/v1/chat/completions", chat_body(fake={"nope": 1}))[0] == 400
    assert engine.call("GET", "/v1/nowhere")[0] == 404
    assert engine.call("GET", "/v1/chat/completions")[0] == 405
    assert engine.stats()["failed"] == 3  # 404 and 405 above are not generation requests


# --- test controls ---


def test_fail_status_per_request_and_times(engine: Engine) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        engine.client().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"fake": {"fail_status": 503}},
        )
    assert caught.value.status_code == 503 and caught.value.body["code"] == 503
    status, headers, data = engine.call(
        "POST", "/v1/completions", {"prompt": "x", "fake": {"fail_status": 502, "fail_body": "oops"}}
    )
    assert (status, data, headers["content-type"].split(";")[0]) == (502, b"oops", "text/plain")
    engine.json("POST", "/_control", {"fail_status": 429, "times": 2})
    assert [engine.call("POST", "/v1/chat/completions", chat_body())[0] for _ in range(3)] == [429, 429, 200]
    stats = engine.stats()
    assert (stats["requests"], stats["failed"], stats["completed"]) == (5, 4, 1)


def test_control_layers_and_validation(engine: Engine) -> None:
    engine.json("POST", "/_control", {"tokens": 2})
    engine.json("POST", "/_control", {"tokens": 4, "times": 1})
    contents = [
        engine.json("POST", "/v1/chat/completions", chat_body("a"))["choices"][0]["message"]["content"]
        for _ in range(2)
    ]
    assert contents == ["echo: a tok tok", "echo: a"]
    per_request = engine.json("POST", "/v1/chat/completions", chat_body("a", fake={"tokens": None}))
    assert per_request["choices"][0]["message"]["content"] == "echo: a"
    for bad in ({"nope": 1}, {"ttft_ms": -1}, {"times": 1}, {"hang": "yes"}, [1]):
        assert engine.call("POST", "/_control", bad)[0] == 400, bad
    assert engine.json("GET", "/_control")["layers"] == [{"controls": {"tokens": 2}, "remaining": None}]


def test_die_after_chunks_cuts_stream(engine: Engine) -> None:
    resp = open_stream(engine, {"die_after_chunks": 2})
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead) as caught:  # no terminating zero-length chunk
        resp.read()
    got = events(caught.value.partial)
    assert len(got) == 2 and b"[DONE]" not in caught.value.partial
    assert engine.wait_stats(lambda s: s["aborted"] == 1)["active"] == 0


def test_hang_then_client_disconnect_is_cancelled(engine: Engine) -> None:
    conn = engine.connect()
    conn.request("POST", "/v1/chat/completions", json.dumps(chat_body(fake={"hang": True})))
    assert engine.wait_stats(lambda s: s["active"] == 1)["active"] == 1
    assert (
        'vllm:num_requests_running{model_name="test-model"} 1.0' in engine.call("GET", "/metrics")[2].decode()
    )
    conn.close()
    stats = engine.wait_stats(lambda s: s["cancelled"] == 1)
    assert (stats["cancelled"], stats["active"], stats["completed"]) == (1, 0, 0)


def test_disconnect_during_ttft_and_after_hang_after_chunks(engine: Engine) -> None:
    slow = open_stream(engine, {"ttft_ms": 5000})
    assert slow.status == 200  # the head comes at once; the first chunk waits
    slow.close()
    assert engine.wait_stats(lambda s: s["cancelled"] == 1)["cancelled"] == 1
    stuck = open_stream(engine, {"hang_after_chunks": 2}, timeout=0.3)
    assert stuck.readline().startswith(b"data: ") and stuck.readline() == b"\n"
    assert stuck.readline().startswith(b"data: ") and stuck.readline() == b"\n"
    with pytest.raises(TimeoutError):
        stuck.readline()
    assert engine.stats()["active"] == 1
    stuck.close()
    stats = engine.wait_stats(lambda s: s["cancelled"] == 2)
    assert (stats["cancelled"], stats["active"]) == (2, 0)


def test_delays(engine: Engine) -> None:
    start = time.monotonic()
    resp = open_stream(engine, {"ttft_ms": 300, "token_ms": 50, "tokens": 3})
    head_at = time.monotonic() - start
    data = resp.read()
    total = time.monotonic() - start
    assert head_at < 0.25 and total >= 0.4 and len(events(data)) == 6  # role, 3 tokens, final, DONE
    start = time.monotonic()
    resp = open_stream(engine, {"head_delay_ms": 200})
    assert time.monotonic() - start >= 0.2 and resp.status == 200
    resp.read()


def test_engine_wide_metrics_and_health(engine: Engine) -> None:
    assert engine.call("GET", "/health")[:3:2] == (200, b"")
    engine.json("POST", "/_control", {"healthy": False, "waiting": 7, "kv_cache_usage": 0.5})
    assert engine.call("GET", "/health")[0] == 503
    engine.json("POST", "/v1/chat/completions", chat_body("a b"))
    status, headers, data = engine.call("GET", "/metrics")
    text = data.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    for line in (
        "# TYPE vllm:num_requests_running gauge",
        'vllm:num_requests_running{model_name="test-model"} 0.0',
        'vllm:num_requests_waiting{model_name="test-model"} 7.0',
        'vllm:gpu_cache_usage_perc{model_name="test-model"} 0.5',
        'vllm:kv_cache_usage_perc{model_name="test-model"} 0.5',
        "# TYPE vllm:prompt_tokens_total counter",
        "# TYPE vllm:generation_tokens_total counter",
    ):
        assert line in text.splitlines(), line
    assert re.search(r'^vllm:prompt_tokens_total\{model_name="test-model"\} [1-9]', text, re.M)
    engine.json("POST", "/_control/reset")
    assert engine.call("GET", "/health")[0] == 200


# --- HTTP/1.1 behaviour ---


def test_keep_alive_chunked_body_and_pipelining(engine: Engine) -> None:
    conn = engine.connect()
    for _ in range(2):
        conn.request("POST", "/v1/chat/completions", json.dumps(chat_body()))
        assert conn.getresponse().read()
    sock = conn.sock
    conn.request("POST", "/v1/completions", iter([b'{"prompt": ', b'"chunked body"}']), encode_chunked=True)
    resp = conn.getresponse()
    assert json.loads(resp.read())["choices"][0]["text"] == "echo: chunked body"
    assert conn.sock is sock
    conn.close()
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b'"object":"list"' not in data:
            data += raw.recv(65536)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert engine.stats()["by_path"] == {
        "/v1/chat/completions": 2,
        "/v1/completions": 1,
        "/health": 1,
        "/v1/models": 1,
    }


def test_close_after_response(engine: Engine) -> None:
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as raw:
        body = json.dumps(chat_body(fake={"close_after_response": True})).encode()
        raw.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    assert b"\r\nconnection: close\r\n" in data and data.endswith(b"}")  # the server closed: recv hit EOF
    assert engine.stats()["completed"] == 1


def test_last_request(engine: Engine) -> None:
    engine.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], extra_headers={"X-Trace": "abc"}
    )
    last = engine.stats()["last_request"]
    assert (last["method"], last["path"]) == ("POST", "/v1/chat/completions")
    assert last["headers"]["x-trace"] == "abc" and last["headers"]["authorization"] == "Bearer x"
    assert last["body"]["messages"] == [{"role": "user", "content": "x"}]
