# The preamble every feature benchmark shares (sourced, not run): the repo root as the working
# directory, the shared harness, a temp dir, cleanup of every process started, the fake engine.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
PY=${PY:-.venv/bin/python}
export BENCH_STREAM=${STREAM:-0}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_upstream() { # the fast fake engine on $UP_PORT
  PORT=$UP_PORT "$PY" "$SHARED/fake_upstream.py" >/dev/null 2>&1 &
  PIDS+=($!)
}
