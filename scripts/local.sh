#!/usr/bin/env bash
# One command for a fresh machine: install the gateway with the local model (the first run
# builds llama-cpp-python from source, about 12 minutes on 2 cores; later runs start in
# seconds), then run it: SmolLM2-135M-Instruct on a managed llama-cpp-python engine, the
# gateway on 127.0.0.1:8080, no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-local.sh
exec .venv/bin/comox demo --local "$@"
