#!/usr/bin/env bash
# Runs one or more scenarios against our relay (lmdb, durable acks) and the Gun.js relay (radisk),
# each on a fresh relay in a fresh data directory, and prints a markdown table with the ratio.
# Every result is appended as a JSON line to bench/results.jsonl.
#
#   bench/run.sh                                  the standard set (what `make bench` runs)
#   bench/run.sh put --conns 16 --outstanding 256 --seconds 10
#   bench/run.sh fanout --subs 200 --rate 100 --seconds 10
#   bench/run.sh conns --conns 1000
# Several scenarios: separate them with '::'  (bench/run.sh put --seconds 5 :: fanout --subs 50)
# Env: GUN_BUILD (default build), BENCH_RELAYS (default "gunjs ours"), BENCH_OUT (results file),
#      BENCH_PERF=1 records `perf record -g` of our relay during put into bench/perf-put.data.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${GUN_BUILD:-$ROOT/build}
LOADGEN=${LOADGEN:-$BUILD/bench/loadgen}
OUT=${BENCH_OUT:-$HERE/results.jsonl}
RELAYS=${BENCH_RELAYS:-gunjs ours}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
HOSTINFO="$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"

[ -x "$LOADGEN" ] || { echo "run.sh: $LOADGEN missing (make bench builds it)" >&2; exit 2; }
[ -x "$BUILD/gun" ] || { echo "run.sh: $BUILD/gun missing (make build)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gun-bench-XXXXXX")
RPID=""
cleanup() { [ -n "$RPID" ] && kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# start_relay KIND -> sets RPID and URL
start_relay() {
  local kind=$1 dir="$TMP/$1-$RANDOM" log
  mkdir -p "$dir"; log="$dir/relay.log"
  if [ "$kind" = ours ]; then
    "$BUILD/gun" relay --host 127.0.0.1 --port 0 --store lmdb --data "$dir/data" --quiet >"$log" 2>&1 &
    RPID=$!
    re='listening on ws://[^:]*:([0-9]+)/gun'
  else
    (cd "$dir" && GUNJS_PORT=0 GUNJS_RADISK=true exec node "$ROOT/tests/interop/lib/gunjs-relay.js") >"$log" 2>&1 &
    RPID=$!
    re='listening on ([0-9]+)'
  fi
  for _ in $(seq 1 150); do
    if [[ $(cat "$log") =~ $re ]]; then URL="ws://127.0.0.1:${BASH_REMATCH[1]}/gun"; return 0; fi
    kill -0 "$RPID" 2>/dev/null || { echo "run.sh: $kind relay exited: $(cat "$log")" >&2; exit 1; }
    sleep 0.1
  done
  echo "run.sh: $kind relay not ready: $(cat "$log")" >&2; exit 1
}

stop_relay() {
  kill -TERM "$RPID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$RPID" 2>/dev/null || true
  wait "$RPID" 2>/dev/null || true
  RPID=""
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_one() { # run_one KIND SCENARIO ARGS...
  local kind=$1 scen=$2; shift 2
  start_relay "$kind"
  local extra=() perfpid=""
  [ "$scen" = conns ] && extra=(--pid "$RPID")
  if [ "$scen" = put ] && [ "$kind" = ours ] && [ "${BENCH_PERF:-0}" = 1 ]; then
    perf record -g -o "$HERE/perf-put.data" -p "$RPID" >/dev/null 2>&1 & perfpid=$!
  fi
  local t0 c0 t1 c1 line hz
  hz=$(getconf CLK_TCK); t0=$(date +%s.%N); c0=$(cpu_ticks "$RPID")
  echo "== $kind: $scen $*" >&2
  line=$("$LOADGEN" --url "$URL" "$scen" "$@" "${extra[@]}") || { echo "run.sh: loadgen failed" >&2; stop_relay; return 1; }
  t1=$(date +%s.%N); c1=$(cpu_ticks "$RPID")
  [ -n "$perfpid" ] && { kill -INT "$perfpid"; wait "$perfpid" 2>/dev/null || true; }
  local rss; rss=$(awk '/VmRSS/{print $2}' "/proc/$RPID/status" 2>/dev/null || echo 0)
  stop_relay
  local relay_cpu; relay_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    'BEGIN{printf "\"relay_cpu_s\":%.3f,\"relay_cpu_share\":%.3f", (b-a)/hz, (b-a)/hz/(t1-t0)}')
  line="{\"run\":\"$RUN_ID\",\"commit\":\"$COMMIT\",\"host\":\"$HOSTINFO\",\"relay\":\"$kind\",\"args\":\"$scen $*\",\"relay_rss_end_kib\":$rss,$relay_cpu,${line#\{}"
  echo "$line" >>"$OUT"
  echo "$line" >>"$TMP/run.jsonl"
  echo "$line" >&2
}

if [ $# -eq 0 ]; then
  set -- put --conns 16 --outstanding 256 --seconds 10 :: fanout --subs 200 --rate 100 --seconds 10
fi

cmd=()
flush() {
  [ ${#cmd[@]} -eq 0 ] && return
  for r in $RELAYS; do run_one "$r" "${cmd[@]}"; done
  cmd=()
}
for a in "$@"; do
  if [ "$a" = "::" ]; then flush; else cmd+=("$a"); fi
done
flush

node "$HERE/table.js" "$TMP/run.jsonl"
