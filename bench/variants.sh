#!/usr/bin/env bash
# One harness for every "feature on vs off" question: start one comox worker per config file,
# all in front of the same fast fake engine, alternate wrk runs between them (so drift on a
# shared machine hits all alike) and report median req/s and median CPU per request
# (utime+stime of the gateway process from /proc), each as a ratio to the first config.
#   bash bench/variants.sh off.yaml on.yaml ...      env: DUR=4 ROUNDS=5 CONN=32 STREAM=0
# CONFIG@TREE runs that config with the comox package of another checkout (for example a
# `git worktree` of the base commit), to compare code changes rather than settings.
# Each config names its backend url as http://127.0.0.1:${UP_PORT} (default 9400); the
# engine serves the model "bench". Only ratios within one run mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 CONFIG CONFIG [...]" >&2; exit 2; }
DUR=${DUR:-4} ROUNDS=${ROUNDS:-5} CONN=${CONN:-32} UP_PORT=${UP_PORT:-9400} BASE=${BASE:-9410}
export BENCH_STREAM=${STREAM:-0} BENCH_KEY=${BENCH_KEY:-sk-bench} BENCH_MODEL=${BENCH_MODEL:-bench}
SHARED=$(cd .. && pwd)/shared/bench
PY=${PY:-.venv/bin/python}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

PORT=$UP_PORT "$PY" "$SHARED/fake_upstream.py" >/dev/null 2>&1 &
pids+=($!)
names=() ports=() gw=()
i=0
for spec in "$@"; do
  port=$((BASE + i))
  config=${spec%%@*} tree=""
  [ "$config" = "$spec" ] || tree=$(cd "${spec#*@}" && pwd)
  sed "s/\${UP_PORT}/$UP_PORT/g" "$config" > "$work/$i.yaml"
  PYTHONPATH="$tree" "$PY" -P -m comox.cli serve --config "$work/$i.yaml" --port "$port" 2>"$work/$i.log" &
  pids+=($!)
  gw+=($!) names+=("$(basename "$config" .yaml)${tree:+@$(basename "$tree")}") ports+=("$port")
  i=$((i + 1))
done
sleep 3
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user() { awk '{print $14}' "/proc/$1/stat"; }
declare -A rps us usr
for round in $(seq "$ROUNDS"); do
  for j in "${!names[@]}"; do
    c0=$(cpu "${gw[$j]}") u0=$(user "${gw[$j]}")
    out=$(wrk -t1 -c"$CONN" -d"${DUR}s" -s "$SHARED/post_chat.lua" "http://127.0.0.1:${ports[$j]}/v1/chat/completions")
    c1=$(cpu "${gw[$j]}") u1=$(user "${gw[$j]}")
    n=$(awk '/requests in/{print $1}' <<<"$out")
    bad=$(awk '/Non-2xx/{print $NF}' <<<"$out")
    r=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    u=$(echo "($c1 - $c0) * 1000000 / $tick / $n" | bc -l)
    uu=$(echo "($u1 - $u0) * 1000000 / $tick / $n" | bc -l)
    printf 'round %d %-14s %9.0f req/s %7.1f us CPU/req (user %.1f)%s\n' "$round" "${names[$j]}" "$r" "$u" "$uu" "${bad:+  non-2xx=$bad}"
    rps[$j]+="$r "
    us[$j]+="$u "
    usr[$j]+="$uu "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
printf '%-20s %10s %7s %12s %7s %9s   (c=%s, %ss x %s, stream=%s)\n' variant req/s ratio "us CPU/req" ratio "us user" "$CONN" "$DUR" "$ROUNDS" "$BENCH_STREAM"
r0=$(median <<<"${rps[0]}") u0=$(median <<<"${us[0]}")
for j in "${!names[@]}"; do
  r=$(median <<<"${rps[$j]}") u=$(median <<<"${us[$j]}") uu=$(median <<<"${usr[$j]}")
  printf '%-20s %10.0f %7.3f %12.1f %7.3f %9.1f\n' "${names[$j]}" "$r" "$(echo "$r / $r0" | bc -l)" "$u" "$(echo "$u / $u0" | bc -l)" "$uu"
done
