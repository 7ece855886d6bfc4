#!/usr/bin/env bash
# Cost of residency policy: (1) redaction per KB of prompt, in process; (2) wrk against one comox
# worker in front of the fast fake engine, policy off vs. policy gate on (classes, labels, the
# backend gate, no PII rule and no redaction), alternating runs so machine noise hits both alike.
#   ROUNDS=3 DUR=10 CONN=32 bash bench/policy.sh      (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
PY=${PY:-.venv/bin/python}
DUR=${DUR:-10} CONN=${CONN:-32} ROUNDS=${ROUNDS:-3} UP_PORT=${UP_PORT:-18731} GW_PORT=${GW_PORT:-18732}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== redaction cost (in process) =="
"$PY" bench/policy_redaction.py

for port in "$UP_PORT" "$GW_PORT"; do  # a colleague's benchmark on the same port would skew ours
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then echo "port $port is in use; set UP_PORT/GW_PORT" >&2; exit 1; fi
done
PORT=$UP_PORT "$PY" "$SHARED/fake_upstream.py" >/dev/null 2>&1 & PIDS+=($!)
base() {
  cat <<YAML
server: {host: 127.0.0.1, port: $GW_PORT, workers: 1}
backends: [{name: up, url: "http://127.0.0.1:$UP_PORT", engine: vllm, models: [bench], jurisdiction: EU}]
store: sqlite:///$WORK/$1.db
YAML
}
base off > "$WORK/off.yaml"
{ base on; cat <<YAML
sovereignty:
  classes:
    public: {level: 0}
    internal: {level: 1, cloud: false}
    restricted: {level: 2, jurisdictions: [EU], operators: [self], cloud: false}
  default_class: internal
YAML
} > "$WORK/on.yaml"
run() {  # $1 name -> requests/s
  "$PY" -m comox.cli --log-level warning serve --config "$WORK/$1.yaml" 2>"$WORK/$1.log" & local gw=$!
  PIDS+=($gw)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && break; sleep 0.1; done
  wrk -t1 -c4 -d2s -s "$SHARED/post_chat.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null
  local out; out=$(wrk -t2 -c"$CONN" -d"${DUR}s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers:" >&2; echo "$out" >&2; fi
  kill "$gw"; wait "$gw" 2>/dev/null || true
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
echo "== throughput, policy off vs gate on (c=$CONN, ${DUR}s, 1 worker, $ROUNDS alternating rounds) =="
off_all=() on_all=()
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then off=$(run off); on=$(run on); else on=$(run on); off=$(run off); fi  # order alternates too
  off_all+=("$off"); on_all+=("$on")
  printf 'round %d: off %8.0f  on %8.0f  ratio %.3f\n' "$r" "$off" "$on" "$(echo "$on / $off" | bc -l)"
done
sum() { local s=0; for v in "$@"; do s=$(echo "$s + $v" | bc -l); done; echo "$s"; }
off_sum=$(sum "${off_all[@]}"); on_sum=$(sum "${on_all[@]}")
ratios=$(for i in "${!off_all[@]}"; do echo "${on_all[$i]} / ${off_all[$i]}" | bc -l; done | sort -g)
printf 'median of round ratios: %.3f\n' "$(sed -n "$(( (ROUNDS + 1) / 2 ))p" <<<"$ratios")"
printf 'mean:    off %8.0f  on %8.0f  ratio %.3f\n' "$(echo "$off_sum / $ROUNDS" | bc -l)" \
  "$(echo "$on_sum / $ROUNDS" | bc -l)" "$(echo "$on_sum / $off_sum" | bc -l)"
