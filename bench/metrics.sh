#!/usr/bin/env bash
# Cost of observability: wrk against one comox worker in front of the fast fake engine, with
# metrics off, metrics on, and metrics plus the access log. The gateways run side by side and
# the runs alternate (off, on, on+log, off, ...) so drift on a shared machine hits all alike.
# Prints requests/s and the gateway's CPU time per request (utime+stime from /proc, which
# other load on the machine disturbs far less than throughput) per run, then the medians
# per variant and their ratios to "off".
#   DUR=5 ROUNDS=5 CONN=32 STREAM=0 bash bench/metrics.sh      (needs wrk)
DUR=${DUR:-5} ROUNDS=${ROUNDS:-5} CONN=${CONN:-32} UP_PORT=${UP_PORT:-8101} BASE=${BASE:-8190}
source "$(dirname "$0")/lib.sh"
start_upstream
VARIANTS=(off on on+log)
declare -A OBS=(
  [off]="{metrics: {enabled: false}, access_log: false}"
  [on]="{metrics: {enabled: true}, access_log: false}"
  [on+log]="{metrics: {enabled: true}, access_log: true}"
)
declare -A PORTS GWPID
i=0
for v in "${VARIANTS[@]}"; do
  port=$((BASE + i)); i=$((i + 1)); PORTS[$v]=$port
  cat > "$WORK/$v.yaml" <<YAML
server: {host: 127.0.0.1, port: $port, workers: 1}
backends: [{name: up, url: "http://127.0.0.1:$UP_PORT", engine: vllm, models: [bench]}]
store: sqlite:///$WORK/$v.db
observability: ${OBS[$v]}
YAML
  "$PY" -m comox.cli --log-level warning serve --config "$WORK/$v.yaml" 2>/dev/null & PIDS+=($!)
  GWPID[$v]=$!
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
for v in "${VARIANTS[@]}"; do
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:${PORTS[$v]}/health" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c"$CONN" -d2s -s "$SHARED/post_chat.lua" "http://127.0.0.1:${PORTS[$v]}/v1/chat/completions" >/dev/null
done
declare -A RESULTS CPU
for round in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    before=$(ticks "${GWPID[$v]}")
    out=$(wrk -t2 -c"$CONN" -d"${DUR}s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:${PORTS[$v]}/v1/chat/completions")
    after=$(ticks "${GWPID[$v]}")
    if grep -q "Non-2xx" <<<"$out"; then echo "$v: non-2xx answers" >&2; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(echo "($after - $before) * 1000000 / $HZ / $n" | bc -l)
    RESULTS[$v]="${RESULTS[$v]:-} $rps"
    CPU[$v]="${CPU[$v]:-} $us"
    printf 'round %d %-7s %10.0f req/s %7.1f us CPU/req\n' "$round" "$v" "$rps" "$us"
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
base=$(median "${RESULTS[off]}")
cbase=$(median "${CPU[off]}")
printf '\n%-34s %10s %8s %12s %8s\n' "variant (c=$CONN, ${DUR}s x $ROUNDS, stream=$BENCH_STREAM)" "req/s" "ratio" "us CPU/req" "ratio"
for v in "${VARIANTS[@]}"; do
  m=$(median "${RESULTS[$v]}")
  c=$(median "${CPU[$v]}")
  printf '%-34s %10.0f %8.3f %12.1f %8.3f\n' "$v" "$m" "$(echo "$m / $base" | bc -l)" "$c" "$(echo "$c / $cbase" | bc -l)"
done
