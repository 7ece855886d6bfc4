"""The engine command of comox/local.yaml (comox/local/engine.py): the llama_cpp.server argv
it execs, and OMP_WAIT_POLICY=PASSIVE unless the environment says otherwise."""

import subprocess
import sys

from comox.local.engine import build_argv, engine_env, parser


def test_the_server_gets_the_weights_alias_port_and_passed_through_arguments():
    args = parser().parse_args(["--port", "8123", "--alias", "small"])
    argv = build_argv("/w/SmolLM2.gguf", args, ["--n_batch", "256"])
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--model"] == "/w/SmolLM2.gguf" and pairs["--model_alias"] == "small"
    assert pairs["--port"] == "8123" and pairs["--host"] == "127.0.0.1" and pairs["--n_ctx"] == "2048"
    assert "--n_threads" not in argv  # llama-cpp-python's default unless asked
    assert pairs["--interrupt_requests"] == "false"  # a second request must not cut a stream short
    assert argv[-2:] == ["--n_batch", "256"]


def test_threads_are_set_for_generation_and_batches():
    argv = build_argv("/w/m.gguf", parser().parse_args(["--port", "1", "--threads", "2"]), [])
    assert argv[argv.index("--n_threads") + 1] == "2" and argv[argv.index("--n_threads_batch") + 1] == "2"


def test_omp_waits_passively_unless_the_environment_says_otherwise():
    assert engine_env({"PATH": "/bin"})["OMP_WAIT_POLICY"] == "PASSIVE"
    assert engine_env({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"


def test_a_port_is_required():
    run = subprocess.run(
        [sys.executable, "-m", "comox.local.engine"], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2 and "--port" in run.stderr
