"""The `comox` command line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import resources

from comox.observability.logs import setup_logging


def _load(path: str | None):
    from comox.config import ConfigError, load_config, parse_config

    try:
        if path is None:
            text = resources.files("comox").joinpath("default.yaml").read_text()
            return parse_config(text, source="<embedded default.yaml>")
        return load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from comox.server.serve import serve

    config = _load(args.config)
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


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the project's test engine on :8100 and the gateway on its embedded defaults."""
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
        print(
            "comox demo: try\n  curl -s http://127.0.0.1:8080/v1/chat/completions "
            "-H 'content-type: application/json' "
            '-d \'{"model":"demo","messages":[{"role":"user","content":"hello there"}]}\'',
            file=sys.stderr,
        )
        args.config, args.host, args.port, args.workers = None, None, None, None
        return cmd_serve(args)
    finally:
        engine.terminate()
        engine.wait(5)


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
