#!/usr/bin/env bash
# Exact-hit latency and throughput against a proxied request: wrk against one comox worker
# with the cache on, in front of the fast fake engine. "proxied" sends x-comox-cache: skip
# (the cache stage steps aside, the engine answers), "hit" sends the same deterministic
# request without it (answered from the cache after the first). Runs alternate so drift on a
# shared machine hits both alike. Then the semantic figures: bench/cache_bench.py.
#   DUR=5 ROUNDS=3 CONN=32 STREAM=0 bash bench/cache.sh      (needs wrk and the semantic extra)
#   SHARED=1 ...: the cache shared through Redis (cache.redis, REDIS_URL), a round trip per lookup
DUR=${DUR:-5} ROUNDS=${ROUNDS:-3} CONN=${CONN:-32} UP_PORT=${UP_PORT:-8111} PORT=${PORT:-8195}
source "$(dirname "$0")/lib.sh"
start_upstream
cat > "$WORK/gw.yaml" <<YAML
server: {host: 127.0.0.1, port: $PORT, workers: 1}
backends: [{name: up, url: "http://127.0.0.1:$UP_PORT", engine: vllm, models: [bench]}]
store: sqlite:///$WORK/gw.db
observability: {metrics: {enabled: true}, access_log: false}
cache: {enabled: true, directory: $WORK/cache}
YAML
if [ "${SHARED:-0}" = 1 ]; then
  prefix="comox-bench-$$:"
  sed -i "s|^cache: .*|cache: {enabled: true, redis: \"${REDIS_URL:-redis://127.0.0.1:6379/0}\", redis_prefix: \"$prefix\"}|" "$WORK/gw.yaml"
  trap 'redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli del >/dev/null; cleanup' EXIT
fi
"$PY" -m comox.cli --log-level warning serve --config "$WORK/gw.yaml" 2>/dev/null & PIDS+=($!)
GW=$!
URL="http://127.0.0.1:$PORT/v1/chat/completions"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
CACHE=skip wrk -t2 -c"$CONN" -d2s -s bench/cache_chat.lua "$URL" >/dev/null
CACHE= wrk -t2 -c"$CONN" -d2s -s bench/cache_chat.lua "$URL" >/dev/null
declare -A RPS CPU LAT
for round in $(seq "$ROUNDS"); do
  for v in proxied hit; do
    control=$([ "$v" = proxied ] && echo skip || echo "")
    before=$(ticks "$GW")
    out=$(CACHE=$control wrk -t2 -c"$CONN" -d"${DUR}s" --latency -s bench/cache_chat.lua "$URL")
    after=$(ticks "$GW")
    if grep -q "Non-2xx" <<<"$out"; then echo "$v: non-2xx answers" >&2; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    us=$(echo "($after - $before) * 1000000 / $HZ / $n" | bc -l)
    RPS[$v]="${RPS[$v]:-} $rps"; CPU[$v]="${CPU[$v]:-} $us"; LAT[$v]="${LAT[$v]:-} $p50"
    printf 'round %d %-8s %9.0f req/s  p50 %8s  %6.1f us CPU/req\n' "$round" "$v" "$rps" "$p50" "$us"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for v in proxied hit; do
  printf 'median %-8s %9.0f req/s  %6.1f us CPU/req\n' "$v" "$(median <<<"${RPS[$v]}")" "$(median <<<"${CPU[$v]}")"
done
echo "hit / proxied throughput: $(echo "$(median <<<"${RPS[hit]}") / $(median <<<"${RPS[proxied]}")" | bc -l | cut -c1-5)"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^comox_cache_lookups_total'
