#!/usr/bin/env bash
# Instructions per request of the gateway's in-process pipeline (bench/pipeline.py), counted by
# valgrind's callgrind: the same code gives the same count whatever else the machine is doing, so
# two versions can be compared on a busy box where CPU-time figures swing by 20 %.
# The count is the difference of two runs (N1 and N2 requests after the same warm-up), so start-up
# (imports, config, the store) cancels out.
#   bash bench/instructions.sh CONFIG.yaml[@TREE] ...     e.g. bench/variants/default.yaml@/tmp/old
#   KEYS=1 bash bench/instructions.sh bench/variants/default.yaml    (env reaches pipeline.py)
# About a minute per config. Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
N1=${N1:-300} N2=${N2:-1300}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
count() {  # $1 config, $2 tree, $3 requests per round -> instructions of the whole run
  rm -f /tmp/comox-variants-*.db*
  (cd "$2" && PYTHONPATH="$2" PYTHONHASHSEED=0 N="$3" ROUNDS=1 valgrind --tool=callgrind \
    --callgrind-out-file="$OUT/cg.out" "$PY" -P "${PIPELINE:-$ROOT/bench/pipeline.py}" "$1" >/dev/null 2>"$OUT/err")
  grep -o "Collected : [0-9]*" "$OUT/err" | awk '{print $3}'
}
for spec in "$@"; do
  config=${spec%@*} tree=$ROOT
  [[ $spec == *@* ]] && tree=${spec#*@}
  a=$(count "$config" "$tree" "$N1")
  b=$(count "$config" "$tree" "$N2")
  printf '%-60s %8d instructions/request\n' "$spec" $(((b - a) / (2 * (N2 - N1))))
done
