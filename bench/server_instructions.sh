#!/usr/bin/env bash
# Instructions per request of the real gateway process, counted by valgrind's callgrind while
# wrk drives it over loopback: everything the worker runs in user space per request (uvloop,
# llhttp, the Python pipeline, SQLite in its threads), nothing of the kernel. Exact enough to
# compare two versions or two configs on a box where CPU-time figures swing by 20 %, and unlike
# bench/instructions.sh it has no harness of its own in the count.
# One connection by default: with more, how many requests share a loop turn depends on how fast
# wrk and the engine run beside a gateway slowed 50x, and the figure moves by half; at c=1 it
# repeats to 0.1 % (every request pays its own loop turns, so it is an upper bound).
#   bash bench/server_instructions.sh CONFIG[@TREE] ...      env: CONN=1 DUR=8 WARM=3 STREAM=0
#   BENCH_KEY=sk-... is the bearer key wrk sends (post_chat.lua); KEYED=1 creates one per config
#   (tenant "bench", huge rpm/tpm/budget, so the limits count but refuse nothing).
# Configs name their backend as http://127.0.0.1:${UP_PORT}, like bench/variants.sh. Under
# callgrind the gateway runs ~50x slower: startup takes up to a minute, a config ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
CONN=${CONN:-1} DUR=${DUR:-8} WARM=${WARM:-3} UP_PORT=${UP_PORT:-9450} PORT=${PORT:-9451}
export BENCH_STREAM=${STREAM:-0} BENCH_MODEL=${BENCH_MODEL:-bench} BENCH_KEY=${BENCH_KEY:-sk-bench}
SHARED=$(cd .. && pwd)/shared/bench
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

PORT=$UP_PORT "$PY" "$SHARED/fake_upstream.py" >/dev/null 2>&1 &
pids+=($!)
counted() { # dump the gateway's counters and print the instructions since the last zero
  callgrind_control -d "$gw" >/dev/null 2>&1
  sleep 1
  awk '/^summary:/{s+=$2} END{print s+0}' "$work"/cg.*.[0-9]*
  rm -f "$work"/cg.*.[0-9]*
}
drive() { wrk -t1 -c"$CONN" -d"$1s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:$PORT/v1/chat/completions"; }
for spec in "$@"; do
  config=${spec%%@*} tree=$ROOT
  [ "$config" = "$spec" ] || tree=$(cd "${spec#*@}" && pwd)
  sed "s/\${UP_PORT}/$UP_PORT/g" "$config" >"$work/gw.yaml"
  rm -f /tmp/comox-variants-*.db*
  key=$BENCH_KEY
  if [ -n "${KEYED:-}" ]; then
    key=$(cd "$tree" && PYTHONPATH="$tree" "$PY" -P -m comox.cli keys create --config "$work/gw.yaml" \
      --tenant bench --rpm 1000000000 --tpm 1000000000000 --token-budget 1000000000000 | tail -n1)
  fi
  (cd "$tree" && PYTHONPATH="$tree" PYTHONHASHSEED=0 exec valgrind --tool=callgrind \
    --callgrind-out-file="$work/cg.%p" "$PY" -P -m comox.cli serve --config "$work/gw.yaml" \
    --port "$PORT" --workers 1) >"$work/gw.log" 2>&1 &
  gw=$!
  pids+=($gw)
  for _ in $(seq 600); do  # up to 5 minutes: callgrind's startup on a loaded box is slow
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && break
    kill -0 "$gw" 2>/dev/null || { cat "$work/gw.log" >&2; exit 1; }
    sleep 0.5
  done
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" || { echo "$spec: the gateway did not start" >&2; exit 1; }
  BENCH_KEY=$key drive "$WARM" >/dev/null
  # the same span idle first: timers (health checks, engine scrapes, the sweeper) run per second,
  # not per request, and are taken out
  callgrind_control -z "$gw" >/dev/null 2>&1
  sleep "$DUR"
  idle=$(counted)
  callgrind_control -z "$gw" >/dev/null 2>&1
  out=$(BENCH_KEY=$key drive "$DUR")
  busy=$(counted)
  n=$(awk '/requests in/{print $1}' <<<"$out")
  bad=$(awk '/Non-2xx/{print $NF}' <<<"$out")
  printf '%-50s %8d instructions/request (%d requests; idle %d per second%s)\n' "$spec" \
    $(((busy - idle) / n)) "$n" $((idle / DUR)) "${bad:+; non-2xx $bad}"
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  rm -f "$work"/cg.*
done
