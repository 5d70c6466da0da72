#!/usr/bin/env bash
# Runs scenarios against our relay (lmdb, durable acks) and the Gun.js relay (radisk), each on a
# fresh relay in a fresh data directory, plus the bare lws echo server (bench/echo.c) as the
# ceiling for `put`. Every result is appended as a JSON line to bench/results.jsonl and the run
# is printed as a markdown table (bench/table.js).
#
#   bench/run.sh                                  the standard set (what `make bench` runs)
#   bench/run.sh put --conns 16 --outstanding 256 --seconds 10
#   bench/run.sh fanout --subs 200 --rate 100 --seconds 10
#   bench/run.sh conns --conns 10000
#   bench/run.sh coldget --nodes 20000 --conns 4 --outstanding 64
# Several scenarios: separate them with '::'  (bench/run.sh put --seconds 5 :: fanout --subs 50)
# Env: GUN_BUILD (default build; holds gun, bench/loadgen, bench/echo), BENCH_RELAYS (default
#      "gunjs ours echo"; echo only runs `put`), BENCH_OUT (results file), BENCH_PERF=1 records
#      `perf record -g` of our relay during put and fanout into $GUN_BUILD/bench/perf-SCENARIO.data.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${GUN_BUILD:-$ROOT/build}
LOADGEN=${LOADGEN:-$BUILD/bench/loadgen}
ECHO=${ECHO_SERVER:-$BUILD/bench/echo}
OUT=${BENCH_OUT:-$HERE/results.jsonl}
RELAYS=${BENCH_RELAYS:-gunjs ours echo}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src tools include CMakeLists.txt bench 2>/dev/null || COMMIT="$COMMIT+dirty"
MODEL=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
MEM_GIB=$(awk '/MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)
HOSTINFO="$(nproc) cores, ${MODEL:-unknown cpu}, ${MEM_GIB} GiB, Linux $(uname -r)"
GUNJS_VERSION=$(node -p "require('$ROOT/node_modules/gun/package.json').version" 2>/dev/null || echo unknown)

[ -x "$LOADGEN" ] || { echo "run.sh: $LOADGEN missing (make bench builds it)" >&2; exit 2; }
[ -x "$BUILD/gun" ] || { echo "run.sh: $BUILD/gun missing (make build)" >&2; exit 2; }

# Our relay's protective limits (connections in all and per address, messages per second per
# peer) would cap the load itself: a benchmark of capacity lifts them, where this build has them.
OURS_FLAGS=()
OURS_HELP=$("$BUILD/gun" relay --help 2>&1 || true)
for f in --max-connections --max-connections-per-ip --msg-rate; do
  [[ $OURS_HELP == *"$f "* ]] && OURS_FLAGS+=("$f" 0)
done

# Every idle connection is a descriptor in the relay and in loadgen: both inherit this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gun-bench-XXXXXX")
RPID=""
cleanup() { [ -n "$RPID" ] && kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# start_relay KIND DIR -> sets RPID and URL (DIR is reused by a restart)
start_relay() {
  local kind=$1 dir=$2 log re
  mkdir -p "$dir"; log="$dir/relay-$RANDOM.log"
  case $kind in
    ours)
      "$BUILD/gun" relay --host 127.0.0.1 --port 0 --store lmdb --data "$dir/data" --quiet ${OURS_FLAGS[@]+"${OURS_FLAGS[@]}"} >"$log" 2>&1 &
      re='listening on ws://[^:]*:([0-9]+)/gun' ;;
    gunjs)
      (cd "$dir" && GUNJS_PORT=0 GUNJS_RADISK=true exec node "$ROOT/tests/interop/lib/gunjs-relay.js") >"$log" 2>&1 &
      re='listening on ([0-9]+)' ;;
    echo)
      [ -x "$ECHO" ] || { echo "run.sh: $ECHO missing (make bench builds it)" >&2; exit 2; }
      "$ECHO" --host 127.0.0.1 --port 0 >"$log" 2>&1 &
      re='listening on ws://[^:]*:([0-9]+)/gun' ;;
  esac
  RPID=$!
  for _ in $(seq 1 150); do
    if [[ $(cat "$log") =~ $re ]]; then URL="ws://127.0.0.1:${BASH_REMATCH[1]}/gun"; return 0; fi
    kill -0 "$RPID" 2>/dev/null || { echo "run.sh: $kind exited: $(cat "$log")" >&2; exit 1; }
    sleep 0.1
  done
  echo "run.sh: $kind not ready: $(cat "$log")" >&2; exit 1
}

# stop_relay -> STOP_S (seconds from SIGTERM to exit), KILLED (1 if SIGKILL was needed after 10 s)
stop_relay() {
  local t0; t0=$(date +%s.%N); KILLED=0
  kill -TERM "$RPID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$RPID" 2>/dev/null; then kill -KILL "$RPID" 2>/dev/null || true; KILLED=1; fi
  wait "$RPID" 2>/dev/null || true
  STOP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}')
  RPID=""
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

# loadgen_on KIND SCENARIO ARGS... -> LINE (loadgen's JSON plus the relay's CPU over the run)
loadgen_on() {
  local kind=$1 scen=$2; shift 2
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks "$RPID")
  LINE=$("$LOADGEN" --url "$URL" "$scen" "$@") || { echo "run.sh: loadgen failed ($kind $scen $*)" >&2; return 1; }
  t1=$(date +%s.%N); c1=$(cpu_ticks "$RPID")
  RELAY_CPU=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
    'BEGIN{printf "\"relay_cpu_s\":%.3f,\"relay_cpu_share\":%.3f", (b-a)/hz, (b-a)/hz/(t1-t0)}')
}

record() { # record KIND ARGS JSON-FIELDS...
  local kind=$1 args=$2 fields=$3
  local line="{\"run\":\"$RUN_ID\",\"date\":\"$DATE\",\"commit\":\"$COMMIT\",\"host\":\"$HOSTINFO\",\"gunjs_version\":\"$GUNJS_VERSION\",\"nofile\":$NOFILE,\"relay\":\"$kind\",\"relay_flags\":\"$([ "$kind" = ours ] && echo "${OURS_FLAGS[*]-}")\",\"args\":\"$args\",$fields"
  echo "$line" >>"$OUT"
  echo "$line" >>"$TMP/run.jsonl"
  echo "$line" >&2
}

run_one() { # run_one KIND SCENARIO ARGS...
  local kind=$1 scen=$2; shift 2
  local dir="$TMP/$kind-$RANDOM" extra=() perfpid=""
  echo "== $kind: $scen $*" >&2
  start_relay "$kind" "$dir"
  [ "$kind" = echo ] && extra=(--echo)
  [ "$scen" = conns ] && extra=(--pid "$RPID")
  if [ "$kind" = ours ] && [ "${BENCH_PERF:-0}" = 1 ] && { [ "$scen" = put ] || [ "$scen" = fanout ]; }; then
    perf record -g -o "$BUILD/bench/perf-$scen.data" -p "$RPID" >/dev/null 2>&1 & perfpid=$!
  fi
  loadgen_on "$kind" "$scen" "$@" "${extra[@]}" || { stop_relay; return 1; }
  [ -n "$perfpid" ] && { kill -INT "$perfpid"; wait "$perfpid" 2>/dev/null || true; }
  local rss; rss=$(rss_kib "$RPID")
  stop_relay
  record "$kind" "$scen $*" "\"relay_rss_end_kib\":$rss,$RELAY_CPU,${LINE#\{}"
}

# coldget: write with acked puts, SIGTERM, restart on the same data, read everything back.
run_coldget() { # run_coldget KIND ARGS...
  local kind=$1; shift
  local dir="$TMP/$kind-$RANDOM" ack="$TMP/acked-$RANDOM.bin" w r wcpu stop killed
  echo "== $kind: coldget $*" >&2
  start_relay "$kind" "$dir"
  loadgen_on "$kind" coldget --phase write --ackfile "$ack" "$@" || { stop_relay; return 1; }
  w=$LINE; wcpu=$RELAY_CPU
  stop_relay; stop=$STOP_S; killed=$KILLED
  start_relay "$kind" "$dir"
  loadgen_on "$kind" coldget --phase read --ackfile "$ack" "$@" || { stop_relay; return 1; }
  r=$LINE
  local rss; rss=$(rss_kib "$RPID")
  stop_relay
  # write-phase fields get a write_ prefix; the read phase's are the scenario's result
  local wf; wf=$(node -e 'const w=JSON.parse(process.argv[1]);const o={};for(const k of ["seconds","acked","err_acks","unanswered","acked_per_s","p50_ms","p99_ms","loadgen_cpu_s","loadgen_cpu_share"])o["write_"+k]=w[k];process.stdout.write(JSON.stringify(o).slice(1,-1))' "$w")
  record "$kind" "coldget $*" "\"relay_rss_end_kib\":$rss,${wcpu//relay_cpu/write_relay_cpu},\"stop_signal\":\"SIGTERM\",\"stop_s\":$stop,\"stop_needed_sigkill\":$([ "$killed" = 1 ] && echo true || echo false),$RELAY_CPU,$wf,${r#\{}"
}

if [ $# -eq 0 ]; then
  set -- put --conns 16 --outstanding 256 --seconds 10 :: fanout --subs 200 --rate 100 --seconds 10 \
    :: fanout --subs 1000 --rate 1000 --seconds 10 :: conns --conns 1000 :: conns --conns 10000 :: coldget --nodes 20000 --conns 4 --outstanding 64
fi

T_START=$(date +%s)
cmd=()
flush() {
  [ ${#cmd[@]} -eq 0 ] && return
  local scen=${cmd[0]}
  for r in $RELAYS; do
    [ "$r" = echo ] && [ "$scen" != put ] && continue
    if [ "$scen" = conns ]; then
      local n=1000 i
      for ((i = 1; i < ${#cmd[@]}; i++)); do [ "${cmd[$i]}" = --conns ] && n=${cmd[$((i + 1))]}; done
      [ $((n + 64)) -gt "$NOFILE" ] &&
        echo "run.sh: warning: $n connections need more descriptors than the limit ($NOFILE): fewer will open" >&2
    fi
    if [ "$scen" = coldget ]; then
      run_coldget "$r" "${cmd[@]:1}" || echo "run.sh: $r ${cmd[*]} failed, going on" >&2
    else
      run_one "$r" "${cmd[@]}" || echo "run.sh: $r ${cmd[*]} failed, going on" >&2
    fi
  done
  cmd=()
}
for a in "$@"; do
  if [ "$a" = "::" ]; then flush; else cmd+=("$a"); fi
done
flush
echo "run.sh: $(($(date +%s) - T_START)) s" >&2

node "$HERE/table.js" "$TMP/run.jsonl"
