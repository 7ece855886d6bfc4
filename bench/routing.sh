#!/usr/bin/env bash
# What the routing layer costs, over the same three fake engines, rounds alternating so both
# see the same drift of a noisy box (only the ratios mean anything):
#   default: the gateway as shipped (least_load, health checks, engine-metrics scraping) against
#     the same code with the routing layer taken out (bench/routing_off.py: plain rotation, no
#     breaker, no ejection, no probes, no scraping); everything else equal.
#   CORE_REV=c69cc3a: against the proxy core as it was before routing (which also predates
#     metrics, tenancy and every other feature, so it measures all of them together).
#   bash bench/routing.sh            ROUNDS=3 DUR=4 by default
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-4}
BASE_PORT=${BASE_PORT:-9300}
CORE_REV=${CORE_REV:-}
SHARED=$(cd .. && pwd)/shared/bench
PY=.venv/bin/python
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
[ -x "$PY" ] || { python3 -m venv .venv && .venv/bin/pip install -q -e .; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

[ -z "$CORE_REV" ] || git archive "$CORE_REV" | tar -x -C "$work" --one-top-level=core
for i in 0 1 2; do
  PORT=$((BASE_PORT + i)) "$PY" "$SHARED/fake_upstream.py" >/dev/null 2>&1 &
  pids+=($!)
done
backends=""
for i in 0 1 2; do
  backends+="  - {name: e$i, url: 'http://127.0.0.1:$((BASE_PORT + i))', engine: vllm, models: [bench]}"$'\n'
done
if [ -n "$CORE_REV" ]; then
  printf 'backends:\n%s' "$backends" > "$work/core.yaml"
else
  printf 'routing: {health: {enabled: false}, scrape: {enabled: false}}\nbackends:\n%s' "$backends" > "$work/core.yaml"
fi
printf 'routing: {strategy: least_load}\nbackends:\n%s' "$backends" > "$work/head.yaml"

serve() { # tree config port
  (cd "$1" && PYTHONPATH="$1" exec "$OLDPWD/$PY" -m comox.cli serve --config "$2" --port "$3" 2>"$work/$3.log") &
  pids+=($!)
}
if [ -n "$CORE_REV" ]; then
  serve "$work/core" "$work/core.yaml" $((BASE_PORT + 10))
else
  "$PY" bench/routing_off.py serve --config "$work/core.yaml" --port $((BASE_PORT + 10)) 2>"$work/off.log" &
  pids+=($!)
fi
serve "$PWD" "$work/head.yaml" $((BASE_PORT + 11))
sleep 2
pid_of() { ss -ltnp "sport = :$1" | awk -F'pid=' 'NR>1{split($2,a,","); print a[1]; exit}'; }
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

declare -A rps_sum cpu_sum
for name in core head; do rps_sum[$name]=0; cpu_sum[$name]=0; done
for round in $(seq "$ROUNDS"); do
  for name in core head; do
    port=$((BASE_PORT + 10)); [ $name = head ] && port=$((BASE_PORT + 11))
    pid=$(pid_of $port)
    c0=$(cpu "$pid")
    out=$(BENCH_MODEL=bench wrk -t1 -c32 -d"${DUR}s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:$port/v1/chat/completions")
    c1=$(cpu "$pid")
    n=$(awk '/requests in/{print $1}' <<<"$out")
    r=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    us=$(echo "($c1 - $c0) * 1000000 / $tick / $n" | bc -l)
    printf 'round %d  %-5s %10.0f req/s  %6.1f us CPU/request\n' "$round" "$name" "$r" "$us"
    rps_sum[$name]=$(echo "${rps_sum[$name]} + $r" | bc -l)
    cpu_sum[$name]=$(echo "${cpu_sum[$name]} + $us" | bc -l)
  done
done
echo
printf 'mean  core %8.0f req/s %6.1f us   head %8.0f req/s %6.1f us\n' \
  "$(echo "${rps_sum[core]} / $ROUNDS" | bc -l)" "$(echo "${cpu_sum[core]} / $ROUNDS" | bc -l)" \
  "$(echo "${rps_sum[head]} / $ROUNDS" | bc -l)" "$(echo "${cpu_sum[head]} / $ROUNDS" | bc -l)"
printf 'routing layer: throughput %.1f %% lower, CPU per request %.1f %% higher (target: under 10 %% throughput)\n' \
  "$(echo "(1 - ${rps_sum[head]} / ${rps_sum[core]}) * 100" | bc -l)" \
  "$(echo "(${cpu_sum[head]} / ${cpu_sum[core]} - 1) * 100" | bc -l)"
