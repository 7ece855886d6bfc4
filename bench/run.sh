#!/usr/bin/env bash
# bench/run.sh: one command, one run, one table. Gateway overhead of comox vs nginx (and an
# aiohttp candidate core, and the engine itself) on this box, plus a 10k slow-stream soak.
#   bash bench/run.sh                    # ~5 min
#   DUR=4 SOAK_DUR=10 bash bench/run.sh  # quicker
# Env (defaults): DUR=8 seconds per matrix cell, WARM=1 warm-up seconds per target,
#   SOAK_CONNS=10000 SOAK_DUR=20 SOAK_THREADS=2 SOAK_TIMEOUT=30 SOAK_TARGETS="direct comox nginx",
#   SOAK_SMALL_CONNS=1000 SOAK_SMALL_DUR=10 (a soak the box can carry, run first; 0 skips it),
#   SOAK_FIT_CONNS (default: when the open-files limit cannot hold SOAK_CONNS proxied streams, the
#   largest multiple of 500 it can; 0 skips it) SOAK_FIT_DUR=15,
#   TARGETS="direct nginx comox comox_dev aiohttp", GATEWAY_PYTHON (default /usr/bin/python3), PORT_OFFSET (default: 0, or the first of 1000/2000/3000
#   that leaves every bench port free).
# Prints one table and writes it to bench/results/latest.txt; raw wrk outputs and process
# logs go to bench/results/raw/. Every process it starts is stopped on exit.
set -uo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
SHARED=$(cd "$(dirname "$0")/../../shared/bench" 2>/dev/null && pwd || echo "")
FAKE=$SHARED/fake_upstream.py; [[ -n $SHARED && -f $FAKE ]] || FAKE=$BENCH/fake_upstream.py
LUA=$SHARED/post_chat.lua;     [[ -n $SHARED && -f $LUA ]] || LUA=$BENCH/post_chat.lua
SOAK_LUA=$BENCH/post_chat_status.lua   # same request, plus a tally of status codes
PY=$REPO/.venv/bin/python
# comox runs on an optimised interpreter (PGO + LTO, as the distribution's python3 and the
# python:3.11-slim image of deploy/Dockerfile are built), in its own venv; `comox_dev` is the same
# gateway on the dev venv's interpreter (pyenv builds have neither PGO nor LTO: ~25 % more CPU).
GATEWAY_PYTHON=${GATEWAY_PYTHON:-/usr/bin/python3}
OPT_VENV=$REPO/.venv-opt
RESULTS=$BENCH/results
RAW=$RESULTS/raw

DUR=${DUR:-8}; WARM=${WARM:-1}
SOAK_CONNS=${SOAK_CONNS:-10000}; SOAK_DUR=${SOAK_DUR:-20}; SOAK_THREADS=${SOAK_THREADS:-2}
SOAK_SMALL_CONNS=${SOAK_SMALL_CONNS:-1000}; SOAK_SMALL_DUR=${SOAK_SMALL_DUR:-10}; SOAK_FIT_DUR=${SOAK_FIT_DUR:-15}
SOAK_TIMEOUT=${SOAK_TIMEOUT:-30}; SOAK_TOKENS=${SOAK_TOKENS:-64}; SOAK_TOKEN_MS=${SOAK_TOKEN_MS:-20}
TARGETS=${TARGETS:-"direct nginx comox comox_dev aiohttp"}
SOAK_TARGETS=${SOAK_TARGETS:-"direct comox nginx"}
export PATH=$PATH:/usr/sbin:/sbin

in_list() { [[ " $2 " == *" $1 "* ]]; }
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- 1. dependencies
install_deps() {
  local missing=() sudo=""
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || missing+=(nginx)
  command -v curl >/dev/null || missing+=(curl)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v ps >/dev/null || missing+=(procps)
  if ((${#missing[@]})); then
    [[ $EUID -ne 0 ]] && sudo=sudo
    log "installing ${missing[*]} with apt-get"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
      || die "apt-get install ${missing[*]} failed"
  fi
  if [[ ! -x $PY ]]; then
    log "creating $REPO/.venv"
    python3 -m venv "$REPO/.venv" || die "python3 -m venv failed (apt-get install python3-venv?)"
  fi
  if ! "$PY" -c 'import comox, uvloop, httptools' 2>/dev/null || [[ ! -x $REPO/.venv/bin/comox ]]; then
    log "pip install -e $REPO"
    "$PY" -m pip install -q -e "$REPO" || die "pip install -e . failed"
  fi
  "$PY" -c 'import aiohttp' 2>/dev/null || { log "pip install aiohttp"; "$PY" -m pip install -q 'aiohttp>=3.9' || die "pip install aiohttp failed"; }
}
install_opt_venv() { # 0 when $OPT_VENV holds comox on $GATEWAY_PYTHON
  "$GATEWAY_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || return 1
  [[ -x $OPT_VENV/bin/python ]] || { log "creating $OPT_VENV on $GATEWAY_PYTHON"; "$GATEWAY_PYTHON" -m venv "$OPT_VENV" || return 1; }
  "$OPT_VENV/bin/python" -c 'import comox, uvloop, httptools' 2>/dev/null && [[ -x $OPT_VENV/bin/comox ]] && return 0
  log "pip install -e $REPO into $OPT_VENV"
  "$OPT_VENV/bin/python" -m pip install -q -e "$REPO"
}
install_deps
COMOX_DEV=$REPO/.venv/bin/comox
if install_opt_venv; then
  COMOX=$OPT_VENV/bin/comox
else
  log "no Python >= 3.11 at $GATEWAY_PYTHON: comox runs on the dev venv, comox_dev is dropped"
  COMOX=$COMOX_DEV TARGETS=${TARGETS//comox_dev/}
fi
GATEWAY_PY_DESC="$("${COMOX%/comox}/python" -c 'import sys; print(sys.version.split()[0], sys._base_executable)')"
CLK_TCK=$(getconf CLK_TCK)

# Open files: 10k proxied streams need ~20k descriptors in the proxy (client + upstream side).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)

# ---------------------------------------------------------------- ports
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
set_ports() {
  local o=$1
  ENGINE_PORT=$((8100 + o)); NGINX_PORT=$((8201 + o)); COMOX_PORT=$((8202 + o)); AIOHTTP_PORT=$((8203 + o))
  COMOX_DEV_PORT=$((8204 + o))
  SLOW_ENGINE_PORT=$((8110 + o)); NGINX_SOAK_PORT=$((8211 + o)); COMOX_SOAK_PORT=$((8212 + o))
  ALL_PORTS="$ENGINE_PORT $NGINX_PORT $COMOX_PORT $AIOHTTP_PORT $COMOX_DEV_PORT $SLOW_ENGINE_PORT $NGINX_SOAK_PORT $COMOX_SOAK_PORT"
}
ports_free() { local p; for p in $ALL_PORTS; do port_busy "$p" && return 1; done; return 0; }
if [[ -n ${PORT_OFFSET:-} ]]; then
  set_ports "$PORT_OFFSET"; ports_free || die "a port in {$ALL_PORTS} is already in use"
else
  for off in 0 1000 2000 3000; do
    set_ports "$off"; ports_free && break
    [[ $off == 3000 ]] && die "no free port set (tried offsets 0..3000); set PORT_OFFSET"
    log "some of ports {$ALL_PORTS} are in use by other processes; trying offset +$((off + 1000))"
  done
fi

# ---------------------------------------------------------------- processes + cleanup
TMP=$(mktemp -d /tmp/comox-bench.XXXXXX)
rm -rf "$RAW"   # raw files of this run only
PIDS=(); NAMES=(); declare -A GONE
cleanup() {
  local p i
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 50); do   # up to 5 s for a clean exit, then SIGKILL
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # nginx workers are children of the master: the master stops them on TERM; catch stragglers
  [[ -n ${NGINX_WORKERS_SEEN:-} ]] && for p in $NGINX_WORKERS_SEEN; do kill -KILL "$p" 2>/dev/null; done
  mkdir -p "$RAW" && cp "$TMP"/*.log "$TMP"/*.yaml "$TMP"/nginx.conf "$RAW"/ 2>/dev/null
  for f in engine slow_engine; do  # the fake engine prints a traceback per stream the client dropped
    [[ -f $TMP/$f.log ]] || continue
    { echo "# $(grep -c '^Task exception was never retrieved' "$TMP/$f.log") 'Task exception was never retrieved'" \
           "tracebacks (writes after the client closed mid-stream) filtered out by bench/run.sh"
      grep -v -E '^(Traceback|  File|    |RuntimeError|Task exception|future:)' "$TMP/$f.log"; } >"$RAW/$f.log"
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

start() { # name cmd... (env via `env`), stdout+stderr -> $TMP/name.log
  local name=$1; shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!); NAMES+=("$name")
  eval "${name^^}_PID=$!"
}

chat_ok() { # port -> 0 when a non-stream chat completion answers 200
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" \
        -H 'content-type: application/json' -H 'authorization: Bearer sk-bench' \
        -d '{"model":"bench","messages":[{"role":"user","content":"hi"}]}') == 200 ]]
}
wait_ready() { # name port pid seconds
  local end=$((SECONDS + $4))
  while ((SECONDS < end)); do
    kill -0 "$3" 2>/dev/null || { tail -20 "$TMP/$1.log" >&2; die "$1 exited during startup"; }
    chat_ok "$2" && return 0
    sleep 0.2
  done
  tail -20 "$TMP/$1.log" >&2; die "$1 not answering on :$2 after $4 s"
}

ticks() { # sum utime+stime (clock ticks) of the given pids; /proc/PID/stat fields 14,15
  local t=0 p v
  for p in "$@"; do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' | tr '\n' ' '; }
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }   # whole box
child_ticks() { # CPU of this shell's finished children (wrk, helpers): `times`, 2nd line, must run in this shell
  times >"$TMP/times.txt"
  awk -v hz="$CLK_TCK" 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
    printf "%d\n", t * hz }' "$TMP/times.txt"
}
mine_ticks() { ticks "${PIDS[@]}" $(children "$NGINX_PID"); }  # every bench process still running
OTHER_SUM=0; OTHER_N=0; OTHER_MAX=0; OTHER_MAX_CELL=""
calc() { awk "BEGIN { v = $1; printf \"${2:-%.2f}\", v }" 2>/dev/null || echo "n/a"; }

# ---------------------------------------------------------------- configs
write_comox_config() { # file engine_port backlog
  cat >"$1" <<EOF
server: {host: 127.0.0.1, port: 8080, backlog: $3}
backends: [{name: gpu-a, url: "http://127.0.0.1:$2", engine: vllm, models: [bench]}]
EOF
}
write_comox_config "$TMP/comox.yaml" "$ENGINE_PORT" 2048
write_comox_config "$TMP/comox_soak.yaml" "$SLOW_ENGINE_PORT" 4096
"$COMOX" config check "$TMP/comox.yaml" >&2 || die "comox config check failed (see above)"
"$COMOX" config check "$TMP/comox_soak.yaml" >&2 || die "comox config check failed (see above)"
sed -e "s#__TMP__#$TMP#g" -e "s#__NOFILE__#$NOFILE#g" -e "s#__ENGINE_PORT__#$ENGINE_PORT#g" \
    -e "s#__NGINX_PORT__#$NGINX_PORT#g" -e "s#__SLOW_ENGINE_PORT__#$SLOW_ENGINE_PORT#g" \
    -e "s#__NGINX_SOAK_PORT__#$NGINX_SOAK_PORT#g" "$BENCH/nginx.conf" >"$TMP/nginx.conf"

# ---------------------------------------------------------------- start everything
log "ports: engine $ENGINE_PORT nginx $NGINX_PORT comox $COMOX_PORT aiohttp $AIOHTTP_PORT |" \
    "soak: engine $SLOW_ENGINE_PORT nginx $NGINX_SOAK_PORT comox $COMOX_SOAK_PORT; nofile=$NOFILE; tmp $TMP"
log "harness: $FAKE, $LUA"
start engine      env PORT="$ENGINE_PORT" "$PY" "$FAKE"
start slow_engine env PORT="$SLOW_ENGINE_PORT" TOKENS="$SOAK_TOKENS" TOKEN_MS="$SOAK_TOKEN_MS" "$PY" "$FAKE"
wait_ready engine "$ENGINE_PORT" "$ENGINE_PID" 15
wait_ready slow_engine "$SLOW_ENGINE_PORT" "$SLOW_ENGINE_PID" 15
start nginx       nginx -p "$TMP" -e "$TMP/nginx_error.log" -c "$TMP/nginx.conf"
start comox       "$COMOX" serve --config "$TMP/comox.yaml" --port "$COMOX_PORT" --workers 1
in_list comox_dev "$TARGETS" && start comox_dev "$COMOX_DEV" serve --config "$TMP/comox.yaml" --port "$COMOX_DEV_PORT" --workers 1
start comox_soak  "$COMOX" serve --config "$TMP/comox_soak.yaml" --port "$COMOX_SOAK_PORT" --workers 1
start aiohttp     env PORT="$AIOHTTP_PORT" UPSTREAM="http://127.0.0.1:$ENGINE_PORT" "$PY" "$BENCH/candidates/aiohttp_proxy.py"
wait_ready nginx "$NGINX_PORT" "$NGINX_PID" 15
wait_ready comox "$COMOX_PORT" "$COMOX_PID" 30
in_list comox_dev "$TARGETS" && wait_ready comox_dev "$COMOX_DEV_PORT" "$COMOX_DEV_PID" 30
wait_ready comox_soak "$COMOX_SOAK_PORT" "$COMOX_SOAK_PID" 30
wait_ready aiohttp "$AIOHTTP_PORT" "$AIOHTTP_PID" 15
grep -q '"msg":"listening on http://127.0.0.1:'"$COMOX_PORT" "$TMP/comox.log" || log "warning: no 'listening on' line from comox"
NGINX_WORKERS_SEEN=$(children "$NGINX_PID")
log "started: engine $ENGINE_PID, nginx master $NGINX_PID (workers $NGINX_WORKERS_SEEN), comox $COMOX_PID," \
    "comox_soak $COMOX_SOAK_PID, aiohttp $AIOHTTP_PID, slow engine $SLOW_ENGINE_PID"

port_of() { case $1 in direct) echo "$ENGINE_PORT" ;; nginx) echo "$NGINX_PORT" ;; comox) echo "$COMOX_PORT" ;;
  comox_dev) echo "$COMOX_DEV_PORT" ;; aiohttp) echo "$AIOHTTP_PORT" ;; esac; }
soak_port_of() { case $1 in direct) echo "$SLOW_ENGINE_PORT" ;; nginx) echo "$NGINX_SOAK_PORT" ;;
  comox) echo "$COMOX_SOAK_PORT" ;; esac; }
cpu_pids_of() { # the process(es) whose CPU is charged to a target: the proxy, or the engine for direct
  case $1 in direct) echo "$ENGINE_PID" ;; nginx) children "$NGINX_PID" ;; comox) echo "$COMOX_PID" ;;
    comox_dev) echo "$COMOX_DEV_PID" ;; aiohttp) echo "$AIOHTTP_PID" ;; esac; }

# ---------------------------------------------------------------- wrk cells
declare -A R   # R[target.cell.key]
parse_wrk() { # file -> "requests rps avg_us p50_us p99_us non2xx connect read write timeout"
  awk 'function us(v,  n, u) { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
         return u == "us" ? n : u == "ms" ? n * 1e3 : u == "s" ? n * 1e6 : u == "m" ? n * 6e7 : n }
       /^ +Latency +[0-9]/ { avg = us($2) }
       /^ +50% / { p50 = us($2) }
       /^ +99% / { p99 = us($2) }
       / requests in / { req = $1 }
       /^Requests\/sec/ { rps = $2 }
       /Non-2xx/ { n2 = $NF }
       /Socket errors/ { gsub(",", ""); c = $4; r = $6; w = $8; t = $10 }
       /^status [0-9]+ [0-9]+$/ { st = st (st == "" ? "" : ",") $2 ":" $3 }
       END { printf "%d %.0f %.0f %.0f %.0f %d %d %d %d %d %s\n", req, rps, avg, p50, p99, n2, c, r, w, t, (st == "" ? "-" : st) }' "$1"
}
alive_check() { # record (and log) any bench process that is gone: crashed, or killed from outside
  local i name
  for i in "${!PIDS[@]}"; do
    name=${NAMES[$i]}
    if [[ -z ${GONE[$name]:-} ]] && ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      GONE[$name]="before $1"
      log "ANOMALY: $name (pid ${PIDS[$i]}) is gone before $1; last log lines:"
      grep -v -E '^(Traceback|  File|    t.write|RuntimeError|Task exception|future:)' "$TMP/$name.log" | tail -5 >&2
    fi
  done
}
cell() { # target cellname port conns stream dur threads timeout_s lua pids-charged...
  local tg=$1 cn=$2 port=$3 conns=$4 stream=$5 dur=$6 thr=$7 tmo=$8 lua=$9 out="$TMP/wrk_$1_$2.log"
  shift 9
  local pids=$* t0 t1 req rps avg p50 p99 n2 c r w t st
  alive_check "$tg $cn"
  local b0 m0 k0 w0 b1 m1 k1 w1 other
  b0=$(busy_ticks); m0=$(mine_ticks); k0=$(child_ticks); w0=$(date +%s%N)
  t0=$(ticks $pids)
  BENCH_STREAM=$stream timeout $((dur + tmo + 30)) wrk -t"$thr" -c"$conns" -d"${dur}s" --timeout "${tmo}s" --latency \
    -s "$lua" "http://127.0.0.1:$port/v1/chat/completions" >"$out" 2>&1
  t1=$(ticks $pids)
  k1=$(child_ticks); m1=$(mine_ticks); b1=$(busy_ticks); w1=$(date +%s%N)
  # CPU the box spent on processes that are not ours (other sessions' tests, daemons), % of all cores
  other=$(calc "100 * (($b1 - $b0) - ($m1 - $m0) - ($k1 - $k0)) / ($(nproc) * ($w1 - $w0) / 1e9 * $CLK_TCK)" "%.0f")
  [[ $other == -* || $other == n/a ]] && other=0   # tick rounding
  R[$tg.$cn.other]=$other
  OTHER_SUM=$((OTHER_SUM + other)); OTHER_N=$((OTHER_N + 1))
  ((other > OTHER_MAX)) && { OTHER_MAX=$other; OTHER_MAX_CELL="$tg $cn"; }
  read -r req rps avg p50 p99 n2 c r w t st <<<"$(parse_wrk "$out")"
  R[$tg.$cn.status]=$st; R[$tg.$cn.cputotal]=$(calc "($t1 - $t0) / $CLK_TCK" "%.1f")
  R[$tg.$cn.req]=$req; R[$tg.$cn.rps]=$rps; R[$tg.$cn.avg]=$avg; R[$tg.$cn.p50]=$p50; R[$tg.$cn.p99]=$p99
  R[$tg.$cn.n2]=$n2; R[$tg.$cn.sock]="$c/$r/$w/$t"; R[$tg.$cn.err]=$((n2 + c + r + w + t))
  R[$tg.$cn.cpu]=$(calc "($req > 0) ? ($t1 - $t0) * 1e6 / $CLK_TCK / $req : -1" "%.1f")
  log "$tg $cn: $req req, $rps req/s, avg ${avg}us p99 ${p99}us, errors non2xx=$n2 sock(c/r/w/t)=$c/$r/$w/$t, status $st, cpu ${R[$tg.$cn.cpu]}us/req, other load ${other}%"
}

# ---------------------------------------------------------------- 3+4. matrix
log "matrix: DUR=${DUR}s per cell, targets: $TARGETS"
for tg in $TARGETS; do  # warm pools and caches; not measured
  BENCH_STREAM=0 timeout $((WARM + 20)) wrk -t1 -c32 -d"${WARM}s" -s "$LUA" "http://127.0.0.1:$(port_of "$tg")/v1/chat/completions" >/dev/null 2>&1
done
for spec in "c1 1 0" "c32 32 0" "c32s 32 1"; do   # cell-major: every target sees the same box drift
  read -r cn conns stream <<<"$spec"
  for tg in $TARGETS; do cell "$tg" "$cn" "$(port_of "$tg")" "$conns" "$stream" "$DUR" 1 10 "$LUA" $(cpu_pids_of "$tg"); done
done

# ---------------------------------------------------------------- 5. soak
sample_soak() { # target port pid-or-empty seconds -> "peak_established peak_fds peak_rss_kib" (bounded loop)
  local port=$2 pids=$3 i n f=0 rss=0 pe=0 pf=0 pr=0 p
  for ((i = 0; i < $4; i++)); do
    n=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
    ((n > pe)) && pe=$n
    if [[ -n $pids ]]; then
      f=0; rss=0
      for p in $pids; do
        f=$((f + $(ls "/proc/$p/fd" 2>/dev/null | wc -l)))
        rss=$((rss + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
      done
      ((f > pf)) && pf=$f; ((rss > pr)) && pr=$rss
    fi
    sleep 1
  done
  echo "$pe $pf $pr"
}
drain_wait() { # wait (max 30 s) until the slow engine reports no stream running (vLLM-style /metrics)
  local end=$((SECONDS + 30)) n
  while ((SECONDS < end)); do
    n=$(curl -s -m 2 "http://127.0.0.1:$SLOW_ENGINE_PORT/metrics" | awk '/^vllm:num_requests_running/{print $2}')
    [[ $n == 0 ]] && return
    sleep 0.5
  done
  log "warning: slow engine still reports ${n:-?} running streams"
}
chat_code() { # port -> HTTP status of one non-stream chat completion (000: no answer in 2 s)
  curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" \
    -H 'content-type: application/json' -H 'authorization: Bearer sk-bench' \
    -d '{"model":"bench","messages":[{"role":"user","content":"hi"}]}'
}
recovery() { # port pid max_s: poll until a chat completion answers 200; say what was seen
  local start=$SECONDS code first="" seen=""
  while ((SECONDS - start < $3)); do
    kill -0 "$2" 2>/dev/null || { echo "DIED (process gone)"; return; }
    code=$(chat_code "$1"); first=${first:-$code}
    [[ $code == 200 ]] && break
    [[ " $seen " == *" $code "* ]] || seen="$seen $code"
    sleep 0.5
  done
  if [[ $first == 200 ]]; then echo "ok (answered 200 at once)"
  elif [[ $code == 200 ]]; then echo "answered${seen} first, 200 again after $((SECONDS - start)) s"
  else echo "still not 200 after $3 s (answers:${seen})"; fi
}
soak_pids_of() { case $1 in comox) echo "$COMOX_SOAK_PID" ;; nginx) children "$NGINX_PID" ;; direct) echo "$SLOW_ENGINE_PID" ;; esac; }
# Soak sizes, smallest first (VmHWM only grows): a load the box can carry, the largest that fits
# the open-files limit when SOAK_CONNS does not, then SOAK_CONNS itself (the one with verdicts).
SOAK_SIZES=""
((SOAK_SMALL_CONNS > 0 && SOAK_SMALL_CONNS < SOAK_CONNS)) && { SOAK_SIZES="$SOAK_SMALL_CONNS"; R[soak$SOAK_SMALL_CONNS.dur]=$SOAK_SMALL_DUR; }
if [[ -z ${SOAK_FIT_CONNS:-} ]]; then
  SOAK_FIT_CONNS=0
  ((NOFILE < 2 * SOAK_CONNS + 64)) && SOAK_FIT_CONNS=$(((NOFILE - 500) / 2 / 500 * 500))
fi
((SOAK_FIT_CONNS > SOAK_SMALL_CONNS && SOAK_FIT_CONNS < SOAK_CONNS)) && { SOAK_SIZES="$SOAK_SIZES $SOAK_FIT_CONNS"; R[soak$SOAK_FIT_CONNS.dur]=$SOAK_FIT_DUR; }
SOAK_SIZES="$SOAK_SIZES $SOAK_CONNS"; R[soak$SOAK_CONNS.dur]=$SOAK_DUR
for n in $SOAK_SIZES; do
  dur=${R[soak$n.dur]}
  log "soak: $n streams (TOKENS=$SOAK_TOKENS TOKEN_MS=$SOAK_TOKEN_MS), ${dur}s, targets: $SOAK_TARGETS"
  for tg in $SOAK_TARGETS; do
    drain_wait
    port=$(soak_port_of "$tg"); pids=$(soak_pids_of "$tg")
    sfile=$TMP/sample_${tg}_$n.txt
    sample_soak "$tg" "$port" "$pids" $((dur + 3)) >"$sfile" &
    SAMPLER=$!
    cell "$tg" "soak$n" "$port" "$n" 1 "$dur" "$SOAK_THREADS" "$SOAK_TIMEOUT" "$SOAK_LUA" $pids
    wait "$SAMPLER"
    read -r "R[$tg.soak$n.conns]" "R[$tg.soak$n.fds]" "R[$tg.soak$n.rsspeak]" <"$sfile"
    hwm=0; for p in $pids; do hwm=$((hwm + $(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
    R[$tg.soak$n.hwm]=$(calc "$hwm / 1024" "%.0f")
    if [[ $tg == comox ]]; then
      R[comox.soak$n.alive]=$(recovery "$COMOX_SOAK_PORT" "$COMOX_SOAK_PID" 40)
      log "comox after the $n-stream soak: ${R[comox.soak$n.alive]}"
    fi
  done
done

# ---------------------------------------------------------------- 6. the table
alive_check "the table"
val() { echo "${R[$1]:-n/a}"; }
ratio() { # key-a key-b -> a/b, or n/a when either is missing or b is not positive
  local a b; a=$(val "$1"); b=$(val "$2")
  [[ $a == n/a || $a == -1* || $b == n/a ]] && { echo n/a; return; }
  awk "BEGIN { exit !($b > 0) }" || { echo n/a; return; }
  calc "$a / $b"
}
verdict() { # value op bound
  [[ $1 == n/a || -z $1 ]] && { echo "n/a"; return; }
  awk "BEGIN { exit !($1 $2 $3) }" && echo PASS || echo FAIL
}
SUMMARY=(); UNSAT_LINE=""
{
  echo "== comox bench $(date -u '+%Y-%m-%d %H:%M UTC')  host: $(nproc) cores, $(uname -r)  nofile=$NOFILE"
  echo "   bash bench/run.sh  (DUR=$DUR WARM=$WARM SOAK_CONNS=$SOAK_CONNS SOAK_DUR=$SOAK_DUR SOAK_SMALL_CONNS=$SOAK_SMALL_CONNS SOAK_SMALL_DUR=$SOAK_SMALL_DUR SOAK_FIT_CONNS=$SOAK_FIT_CONNS SOAK_FIT_DUR=$SOAK_FIT_DUR SOAK_THREADS=$SOAK_THREADS)"
  echo "   one comox worker; wrk -t1 for the matrix; wrk, engine and proxy share the box: compare ratios only"
  echo "   comox runs on Python $GATEWAY_PY_DESC; comox_dev on the dev venv's $("$PY" -c 'import sys; print(sys.version.split()[0], sys._base_executable)')"
  echo "   CPU taken by processes outside this bench during the wrk runs: mean $(calc "$OTHER_SUM / ($OTHER_N > 0 ? $OTHER_N : 1)" "%.0f")%," \
       "max ${OTHER_MAX}% ($OTHER_MAX_CELL) of $(nproc) cores"
  echo
  echo "-- matrix: c=1 non-stream latency, c=32 req/s non-stream and stream, errors = non-2xx + socket"
  printf "%-9s %9s %9s %9s %8s %9s %8s %11s %11s\n" target c1_avg_us c1_p50_us c32_rps c32_err c32s_rps c32s_err cpu_us_c32 cpu_us_c32s
  for tg in $TARGETS; do
    printf "%-9s %9s %9s %9s %8s %9s %8s %11s %11s\n" "$tg" "$(val "$tg.c1.avg")" "$(val "$tg.c1.p50")" \
      "$(val "$tg.c32.rps")" "$(val "$tg.c32.err")" "$(val "$tg.c32s.rps")" "$(val "$tg.c32s.err")" \
      "$(val "$tg.c32.cpu")" "$(val "$tg.c32s.cpu")"
  done
  echo "   cpu_us = CPU (utime+stime) per completed request of the proxy process (nginx: its worker);"
  echo "   for direct it is the engine's own CPU per request, for reference"
  echo
  if in_list nginx "$TARGETS"; then
    for tg in comox comox_dev aiohttp; do
      in_list "$tg" "$TARGETS" || continue
      R[$tg.r.rps]=$(ratio "$tg.c32.rps" nginx.c32.rps)
      R[$tg.r.rpss]=$(ratio "$tg.c32s.rps" nginx.c32s.rps)
      R[$tg.r.cpu]=$(ratio "$tg.c32.cpu" nginx.c32.cpu)
      R[$tg.r.cpus]=$(ratio "$tg.c32s.cpu" nginx.c32s.cpu)
      R[$tg.r.lat]=$(calc "$(val "$tg.c1.avg") - $(val nginx.c1.avg)" "%.0f")
      R[$tg.r.err]=$(($(val "$tg.c1.err") + $(val "$tg.c32.err") + $(val "$tg.c32s.err")))
    done
    echo "-- vs nginx (targets are for ONE comox worker)"
    printf "%-40s %9s %9s %9s %9s %7s\n" "metric" comox comox_dev aiohttp target comox
    line() { # label key op bound
      local v; v=$(verdict "$(val "comox.r.$2")" "$3" "$4")
      printf "%-40s %9s %9s %9s %9s %7s\n" "$1" "$(val "comox.r.$2")" "$(val "comox_dev.r.$2")" \
        "$(val "aiohttp.r.$2")" "$3 $4" "$v"
      SUMMARY+=("$v  $1 = $(val "comox.r.$2") (target $3 $4)")
    }
    line "c=32 non-stream req/s ratio" rps ">=" 0.5
    line "c=32 stream req/s ratio" rpss ">=" 0.5
    line "CPU/request ratio, c=32 non-stream" cpu "<=" 3
    line "CPU/request ratio, c=32 stream" cpus "<=" 3
    line "c=1 added latency vs nginx (us)" lat "<=" 1000
    line "matrix errors (all cells)" err "==" 0
    echo
  fi
  for n in $SOAK_SIZES; do
    echo "-- soak: $n slow streams (engine TOKENS=$SOAK_TOKENS TOKEN_MS=$SOAK_TOKEN_MS, ~$((SOAK_TOKENS * SOAK_TOKEN_MS)) ms each)," \
         "wrk -t$SOAK_THREADS -c$n -d$(val "soak$n.dur")s --timeout ${SOAK_TIMEOUT}s --latency"
    printf "%-8s %8s %6s %10s %7s %16s %7s %7s %8s %8s %7s  %s\n" target requests rps peak_conns errors \
      "non2xx/c/r/w/t" p50_ms p99_ms cpu_s peak_fds hwm_MiB "status:count"
    for tg in $SOAK_TARGETS; do
      printf "%-8s %8s %6s %10s %7s %16s %7s %7s %8s %8s %7s  %s\n" "$tg" "$(val "$tg.soak$n.req")" \
        "$(val "$tg.soak$n.rps")" "$(val "$tg.soak$n.conns")" "$(val "$tg.soak$n.err")" \
        "$(val "$tg.soak$n.n2")/$(val "$tg.soak$n.sock")" "$(calc "$(val "$tg.soak$n.p50") / 1000" "%.0f")" \
        "$(calc "$(val "$tg.soak$n.p99") / 1000" "%.0f")" "$(val "$tg.soak$n.cputotal")" "$(val "$tg.soak$n.fds")" \
        "$(val "$tg.soak$n.hwm")" "$(val "$tg.soak$n.status")"
    done
    if in_list comox "$SOAK_TARGETS"; then
      added=n/a; nadded=n/a
      in_list direct "$SOAK_TARGETS" && added=$(calc "($(val comox.soak$n.p99) - $(val direct.soak$n.p99)) / 1000" "%.0f")
      in_list nginx "$SOAK_TARGETS" && in_list direct "$SOAK_TARGETS" && \
        nadded=$(calc "($(val nginx.soak$n.p99) - $(val direct.soak$n.p99)) / 1000" "%.0f")
      tag=""; ((n != SOAK_CONNS)) && tag=" (info)"
      printf "%-40s %9s %9s %9s %7s\n" "soak $n metric" comox nginx target "comox$tag"
      soakline() { # label comox nginx op bound
        local v; v=$(verdict "$2" "$4" "$5")
        printf "%-40s %9s %9s %9s %7s\n" "  $1" "$2" "$3" "$4 $5" "$v"
        ((n == SOAK_CONNS)) && SUMMARY+=("$v  soak $n: $1 = $2 (target $4 $5)")
      }
      soakline "errors (non-2xx + socket)" "$(val comox.soak$n.err)" "$(val nginx.soak$n.err)" "==" 0
      soakline "peak RSS, VmHWM (MiB)" "$(val comox.soak$n.hwm)" "$(val nginx.soak$n.hwm)" "<" 1024
      # Added p99 only means something while the engine keeps its own pace: when the direct run is
      # already far slower than TOKENS x TOKEN_MS, the box (not the proxy) is the bottleneck.
      nominal=$((SOAK_TOKENS * SOAK_TOKEN_MS)); sat=""
      in_list direct "$SOAK_TARGETS" && awk "BEGIN { exit !($(val direct.soak$n.p50) / 1000 > 1.25 * $nominal) }" 2>/dev/null && sat=1
      if [[ -n $sat ]]; then
        printf "%-40s %9s %9s %9s %7s\n" "  added p99 vs direct (ms)" "$added" "$nadded" "< 50" "n/a"
        echo "   engine saturated at $n streams (direct p50 $(calc "$(val direct.soak$n.p50) / 1000" "%.0f") ms vs ~$nominal ms):" \
             "added p99 is not a proxy measurement here"
        ((n == SOAK_CONNS)) && SUMMARY+=("n/a   soak $n: added p99 vs direct = $added ms (engine saturated, see below)")
      else
        soakline "added p99 vs direct (ms)" "$added" "$nadded" "<" 50
        ((n != SOAK_CONNS)) && UNSAT_LINE="$(verdict "$added" "<" 50)  soak $n (largest unsaturated load here): added p99 vs direct = $added ms (target < 50; nginx: $nadded ms)"
      fi
      echo "   comox soak instance after it: $(val comox.soak$n.alive)"
      ((NOFILE < 2 * n + 64)) && echo "   CAVEAT: open-files limit $NOFILE < 2 x $n + 64: one proxy process cannot hold $n proxied streams here"
    fi
    echo
  done
  echo "   peak_conns = established client connections on the target port (sampled 1/s); cpu_s = CPU seconds"
  echo "   of the proxy (direct: engine) during the run; hwm = VmHWM (nginx: worker, whole run)"
  for f in comox comox_soak; do
    echo "   $f stderr: $(grep -c '"level":"\(warning\|error\|critical\)"' "$TMP/$f.log") warning/error lines" \
         "(bench/results/raw/$f.log)"
  done
  for name in "${!GONE[@]}"; do echo "   ANOMALY: $name process was gone ${GONE[$name]} (results after that are invalid)"; done
  echo
  echo "-- verdicts, one comox worker (issue targets)"
  for v in "${SUMMARY[@]}"; do echo "   $v"; done
  [[ -n ${UNSAT_LINE:-} ]] && echo "   $UNSAT_LINE"
} >"$TMP/table.txt"

mkdir -p "$RESULTS" "$RAW"
cp "$TMP"/wrk_*.log "$RAW"/ 2>/dev/null
cp "$TMP/table.txt" "$RESULTS/latest.txt"
echo
cat "$RESULTS/latest.txt"
