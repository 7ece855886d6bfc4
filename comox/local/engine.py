"""`python -m comox.local.engine --port PORT`: llama-cpp-python's OpenAI-compatible server on
SmolLM2-135M-Instruct, the managed command of `comox/local.yaml`.

It finds the weights, then execs `python -m llama_cpp.server` (same pid, so the gateway's
process group and parent-death signal still cover the engine). OMP_WAIT_POLICY defaults to
PASSIVE: with spin-waiting OpenMP threads SmolLM2 on 2 cores swung between 9 and 84 tokens/s
with whatever else ran on the machine (bench/LOCAL_MODEL.md), instead of a steady ~45. The
server's `interrupt_requests` is turned off: on, any second request cuts the stream in
progress short (one client's answer truncated because another asked). Arguments after `--`
go to llama_cpp.server as they are (`-- --n_batch 256`).
"""

from __future__ import annotations

import argparse
import os
import sys

from comox.local.model import LocalModelMissing, check_engine, smollm2_gguf


def build_argv(gguf: str, args: argparse.Namespace, extra: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", args.alias]
    argv += ["--host", args.host, "--port", str(args.port), "--n_ctx", str(args.n_ctx)]
    # by default the server cuts a running stream short whenever another request arrives; behind
    # a gateway that is another client's answer truncated: queue requests instead
    argv += ["--interrupt_requests", "false"]
    if args.threads is not None:
        argv += ["--n_threads", str(args.threads), "--n_threads_batch", str(args.threads)]
    return argv + extra


def engine_env(environ: dict[str, str]) -> dict[str, str]:
    return {"OMP_WAIT_POLICY": "PASSIVE", **environ}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m comox.local.engine", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True, help="port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--alias", default="smollm2", help="the model name the engine answers to")
    p.add_argument("--n-ctx", type=int, default=2048, help="context window in tokens (default 2048)")
    p.add_argument(
        "--threads",
        type=int,
        help="threads for generation (default: llama-cpp-python's, half the cores; on 2 cores one "
        "thread gave 48 tokens/s and two 44, the gateway and the server's own Python needing the other)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parser().parse_args(argv)
    try:
        check_engine()
        gguf = smollm2_gguf()
    except LocalModelMissing as exc:
        print(f"comox.local.engine: {exc}", file=sys.stderr)
        return 2
    command = build_argv(str(gguf), args, extra)
    sys.stdout.flush()
    os.execve(sys.executable, command, engine_env(dict(os.environ)))
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
