#!/usr/bin/env bash
# Cost of the audit log: wrk against one comox worker in front of the fast fake engine, with
# audit off, on with metadata only, and on with encrypted content (content: full), in one run.
# The variants alternate for ROUNDS rounds (2 shared cores are noisy); each prints its median.
#   ROUNDS=3 DUR=8 CONN=32 STREAM=0 bash bench/audit.sh     (needs wrk)
VARIANTS_ONLY=${VARIANTS_ONLY:-}
ROUNDS=${ROUNDS:-3} DUR=${DUR:-8} CONN=${CONN:-32} UP_PORT=${UP_PORT:-8101} GW_PORT=${GW_PORT:-8091}
source "$(dirname "$0")/lib.sh"
start_upstream
export COMOX_AUDIT_MASTER_KEY=$("$PY" -m comox.cli audit keygen)
export COMOX_AUDIT_CHECKPOINT_KEY=$("$PY" -m comox.cli audit keygen)
config() {  # $1 name, $2 audit block
  cat > "$WORK/$1.yaml" <<YAML
server: {host: 127.0.0.1, port: $GW_PORT, workers: 1}
backends: [{name: up, url: "http://127.0.0.1:$UP_PORT", engine: vllm, models: [bench]}]
store: sqlite:///$WORK/keys.db
audit: $2
YAML
}
run() {  # $1 name -> requests/s
  "$PY" -m comox.cli --log-level warning serve --config "$WORK/$1.yaml" 2>"$WORK/$1.log" & local gw=$!
  PIDS+=($gw)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && break; sleep 0.1; done
  sleep 0.5
  wrk -t1 -c1 -d1s -s "$SHARED/post_chat.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null
  local out; out=$(wrk -t2 -c"$CONN" -d"${DUR}s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers:" >&2; echo "$out" >&2; fi
  kill "$gw"; wait "$gw" 2>/dev/null || true
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
config off "{enabled: false}"
config meta "{enabled: true, store: 'sqlite:///$WORK/audit-meta.db'}"
config content "{enabled: true, store: 'sqlite:///$WORK/audit-content.db', content: full}"
config meta_handoff "{enabled: true, store: 'sqlite:///$WORK/audit-meta-handoff.db', durability: handoff}"
config content_handoff "{enabled: true, store: 'sqlite:///$WORK/audit-content-handoff.db', content: full, durability: handoff}"
VARIANTS=(${VARIANTS_ONLY:-off meta content meta_handoff content_handoff})
export BENCH_KEY=$("$PY" -m comox.cli keys create --config "$WORK/off.yaml" --tenant bench | tail -n1)
declare -A R=()
for round in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do R[$v]+="$(run $v) "; done
  echo -n "round $round:" >&2; for v in "${VARIANTS[@]}"; do last=${R[$v]% }; echo -n " $v ${last##* }" >&2; done; echo >&2
done
declare -A M=()
for v in "${VARIANTS[@]}"; do M[$v]=$(tr ' ' '\n' <<<"${R[$v]}" | grep . | median); done
records=$(sqlite3 "$WORK/audit-meta.db" "select count(*) from audit_log" 2>/dev/null || echo "?")
printf '%-52s %10s %8s\n' "variant (c=$CONN, ${DUR}s x $ROUNDS, stream=$BENCH_STREAM)" "req/s" "ratio"
label() {
  case $1 in
    off) echo "audit off" ;;
    meta) echo "audit on, metadata only" ;;
    content) echo "audit on, encrypted content (full)" ;;
    meta_handoff) echo "audit on, metadata only, durability: handoff" ;;
    content_handoff) echo "audit on, content (full), durability: handoff" ;;
  esac
}
for v in "${VARIANTS[@]}"; do
  printf '%-52s %10.0f %8.3f\n' "$(label $v)" "${M[$v]}" "$(echo "${M[$v]} / ${M[off]}" | bc -l)"
done
echo -n "runs:" ; for v in "${VARIANTS[@]}"; do echo -n " $v [${R[$v]}]"; done
echo "; metadata-only records written: $records"
