#!/usr/bin/env bash
# Cost of authentication + limits: wrk against one comox worker in front of the same fast fake
# engine, three ways: no keys (open gateway), a key with rpm/tpm/budget counted in memory, and
# the same key with counters in Redis. Prints requests/s and the ratios to the open gateway.
#   DUR=10 CONN=32 bash bench/auth_limits.sh      (needs wrk, redis on 127.0.0.1:6379)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
PY=${PY:-.venv/bin/python}
DUR=${DUR:-10} CONN=${CONN:-32} UP_PORT=${UP_PORT:-8100} GW_PORT=${GW_PORT:-8090}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=$UP_PORT "$PY" "$SHARED/fake_upstream.py" >/dev/null 2>&1 & PIDS+=($!)
config() {  # $1 name, $2 limits backend
  cat > "$WORK/$1.yaml" <<YAML
server: {host: 127.0.0.1, port: $GW_PORT, workers: 1}
backends: [{name: up, url: "http://127.0.0.1:$UP_PORT", engine: vllm, models: [bench]}]
store: sqlite:///$WORK/$1.db
limits: $2
tenancy: {redis_prefix: "comox-bench-$$:"}
YAML
}
run() {  # $1 name, $2 key or "" -> requests/s
  "$PY" -m comox.cli --log-level warning serve --config "$WORK/$1.yaml" 2>"$WORK/$1.log" & local gw=$!
  PIDS+=($gw)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && break; sleep 0.1; done
  sleep 0.6  # the key table is loaded
  BENCH_KEY=$2 wrk -t1 -c1 -d2s -s "$SHARED/post_chat.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null
  local out; out=$(BENCH_KEY=$2 wrk -t2 -c"$CONN" -d"${DUR}s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers:" >&2; echo "$out" >&2; fi
  kill "$gw"; wait "$gw" 2>/dev/null || true
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
BIG=1000000000
config open memory
config memory memory
config redis "redis://127.0.0.1:6379/15"
KEY_MEM=$("$PY" -m comox.cli keys create --config "$WORK/memory.yaml" --tenant bench --rpm $BIG --tpm $BIG --token-budget $BIG | tail -n1)
KEY_REDIS=$("$PY" -m comox.cli keys create --config "$WORK/redis.yaml" --tenant bench --rpm $BIG --tpm $BIG --token-budget $BIG | tail -n1)
sleep 0.5
open_rps=$(run open "")
mem_rps=$(run memory "$KEY_MEM")
redis_rps=$(run redis "$KEY_REDIS")
redis-cli -n 15 --scan --pattern "comox-bench-$$:*" | xargs -r redis-cli -n 15 del >/dev/null
printf '%-34s %10s %8s\n' "variant (c=$CONN, ${DUR}s, 1 worker)" "req/s" "ratio"
printf '%-34s %10.0f %8.3f\n' "no keys (open)" "$open_rps" 1
printf '%-34s %10.0f %8.3f\n' "key + rpm/tpm/budget, memory" "$mem_rps" "$(echo "$mem_rps / $open_rps" | bc -l)"
printf '%-34s %10.0f %8.3f\n' "key + rpm/tpm/budget, Redis" "$redis_rps" "$(echo "$redis_rps / $open_rps" | bc -l)"
