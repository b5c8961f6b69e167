#!/usr/bin/env bash
# benches/compare.sh — `ahws serve` side by side with a real Actionhero 29.3.5 and bare
# tokio-tungstenite servers, on this machine, in one go. Run by hand (not part of
# scripts/test or CI); it takes about 16 minutes with the defaults.
#
#   benches/compare.sh                 # results in target/bench-results/
#   UPDATE_DOC=1 benches/compare.sh    # also rewrites the results section of BENCHMARKS.md
#                                      # and keeps the raw results in benches/results/<date-time>.jsonl
#
# Env: RUNS (3) runs per cell, SECS (5) measured seconds per run, WARMUP (1) unmeasured
# seconds before each, HOLD (10000) idle connections for the memory figure, WAIT_LOAD
# (1.0) wait up to WAIT_MAX (300) seconds for the 1-minute load average to drop below
# this before measuring, ONLY (all) a regex of workload names to run, SLEEP_MS (10) the
# sleepTest row's sleepDuration, OUT (target/bench-results).
#
# Every run is `ahws bench ... --server-pid <server>`: the generator reads the server's
# /proc/<pid>/stat utime+stime at the start and end of the measured window (and its
# own getrusage), so server CPU per message covers exactly the counted messages.
# Actionhero's private redis is measured alongside (`aux_cpu_*`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-3}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
HOLD=${HOLD:-10000}
WAIT_LOAD=${WAIT_LOAD:-1.0}
WAIT_MAX=${WAIT_MAX:-300}
ONLY=${ONLY:-.}
SLEEP_MS=${SLEEP_MS:-10}
OUT=${OUT:-target/bench-results}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

# 10 000 connections need 10 000+ descriptors in the server and in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((HOLD + 512)) ]; then
  echo "# ulimit -n is $(ulimit -n): HOLD lowered" >&2
  HOLD=$(($(ulimit -n) - 512))
fi

log() { printf '# %s\n' "$*" >&2; }

# shellcheck source=benches/lib.sh
. benches/lib.sh
trap cleanup EXIT

log "building (release)"
cargo build --release -q -p ahws --bins
AHWS=$ROOT/target/release/ahws
BASE=$ROOT/target/release/ahws-baseline

log "interop packages and a private redis (its CPU is Actionhero's alone)"
interop/ensure.sh
REDIS=$(interop/start-redis.sh --new)
REDIS_PIDFILE=$ROOT/interop/.run/redis-${REDIS##*:}.pid
REDIS_PID=$(cat "$REDIS_PIDFILE")

# Each start_* sets PID and PORT.
start_ahws() {
  "$AHWS" serve --quiet --listen 127.0.0.1:0 2>"$OUT/ahws-$1.err" &
  PID=$!
  PIDS+=("$PID")
  PORT=$(wait_line "$OUT/ahws-$1.err" 'listening on ws://[0-9.]+:[0-9]+' | grep -Eo '[0-9]+$')
}
start_base() { # mode tag [extra ahws-baseline args]
  local mode=$1 tag=$2
  shift 2
  "$BASE" --mode "$mode" --listen 127.0.0.1:0 "$@" >"$OUT/base-$mode-$tag.out" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  PORT=$(wait_line "$OUT/base-$mode-$tag.out" 'READY [0-9]+' | grep -Eo '[0-9]+$')
}
start_ah() {
  PORT=0 REDIS_HOST=${REDIS%:*} REDIS_PORT=${REDIS##*:} \
    node interop/actionhero-server/boot.js >"$OUT/ah-$1.out" 2>"$OUT/ah-$1.err" &
  PID=$!
  PIDS+=("$PID")
  PORT=$(wait_line "$OUT/ah-$1.out" 'READY [0-9]+' | grep -Eo '[0-9]+$')
}
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

load1() { cut -d' ' -f1 /proc/loadavg; }
if [ "$WAIT_LOAD" != 0 ]; then
  waited=0
  while awk -v l="$(load1)" -v m="$WAIT_LOAD" 'BEGIN{exit !(l >= m)}' && [ $waited -lt "$WAIT_MAX" ]; do
    [ $((waited % 30)) -eq 0 ] && log "load $(load1) >= $WAIT_LOAD, waiting (at most ${WAIT_MAX}s)"
    sleep 5
    waited=$((waited + 5))
  done
fi

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mhz=$(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/\..*//')
hypervisor=$(lscpu 2>/dev/null | grep -i 'hypervisor vendor' | cut -d: -f2 | sed 's/^ *//')
machine=$(printf '{"machine":{"cpu":"%s","mhz":"%s","hypervisor":"%s","cores":%s,"kernel":"%s","rustc":"%s","node":"%s","date":"%s","load_start":"%s","runs":%s,"seconds":%s,"warmup":%s}}' \
  "$cpu_model" "$mhz" "$hypervisor" "$(nproc)" "$(uname -r)" "$(rustc -V)" "$(node -v)" "$(date -u +%FT%TZ)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$RUNS" "$SECS" "$WARMUP")
echo "$machine" >>"$RESULTS"
log "$machine"

log "starting servers"
start_ahws main
AHWS_PID=$PID AHWS_PORT=$PORT
start_base echo main
ECHO_PID=$PID ECHO_PORT=$PORT
start_base fanout main
FAN_PID=$PID FAN_PORT=$PORT
# The same bare servers with tungstenite's read buffer at 4 KiB, as ours uses (its
# default 128 KiB buffer is zero-filled before every read).
start_base echo main4k --read-buffer 4096
ECHO4_PID=$PID ECHO4_PORT=$PORT
start_base fanout main4k --read-buffer 4096
FAN4_PID=$PID FAN4_PORT=$PORT
# For the sleepTest row: echo each message SLEEP_MS after it arrived (the transport's
# limit for an action that waits).
start_base echo delay --delay-ms "$SLEEP_MS"
DELAY_PID=$PID DELAY_PORT=$PORT
start_base echo delay4k --delay-ms "$SLEEP_MS" --read-buffer 4096
DELAY4_PID=$PID DELAY4_PORT=$PORT
start_ah main
AH_PID=$PID AH_PORT=$PORT
log "ahws :$AHWS_PORT (pid $AHWS_PID)  echo :$ECHO_PORT/:$ECHO4_PORT  fanout :$FAN_PORT/:$FAN4_PORT  actionhero :$AH_PORT (pid $AH_PID, redis pid $REDIS_PID)"

# name | ahws bench arguments | bare baseline (echo or fanout)
WORKLOADS=(
  "action-c1-k1|--mode action --clients 1 --inflight 1|echo"
  "action-c50-k1|--mode action --clients 50 --inflight 1|echo"
  "action-c200-k1|--mode action --clients 200 --inflight 1|echo"
  "action-c1-k8|--mode action --clients 1 --inflight 8|echo"
  "action-c50-k8|--mode action --clients 50 --inflight 8|echo"
  "action-c200-k8|--mode action --clients 200 --inflight 8|echo"
  "broadcast-m50|--mode broadcast --clients 50 --senders 4 --inflight 1|fanout"
  "broadcast-m1000|--mode broadcast --clients 1000 --senders 4 --inflight 1|fanout"
  "connect-c20|--mode connect --clients 20|echo"
  "sleep$SLEEP_MS-c200|--mode action --clients 200 --inflight 1 --action sleepTest --params {\"sleepDuration\":$SLEEP_MS}|delay"
)

bench() { # workload server run port pid [extra args...]
  local w=$1 s=$2 r=$3 port=$4 pid=$5
  shift 5
  local json
  if ! json=$("$AHWS" bench --url "ws://127.0.0.1:$port" "$@" --seconds "${BENCH_SECS:-$SECS}" --warmup "${BENCH_WARMUP:-$WARMUP}" \
    --quiet --server-pid "$pid" 2>>"$OUT/bench.err"); then
    json='{"failed":true}'
  fi
  printf '{"workload":"%s","server":"%s","run":%s,"load1":%s,"result":%s}\n' "$w" "$s" "$r" "$(load1)" "$json" >>"$RESULTS"
  printf '# %-16s %-10s run %s: %s\n' "$w" "$s" "$r" \
    "$(echo "$json" | grep -Eo '"(rate|server_cpu_us_per_msg|gen_cpu_pct)":[0-9.e+-]+|"failed":true' | tr '\n' ' ')" >&2
}

for r in $(seq "$RUNS"); do
  for wl in "${WORKLOADS[@]}"; do
    IFS='|' read -r name args bare <<<"$wl"
    [[ $name =~ $ONLY ]] || continue
    # shellcheck disable=SC2086
    bench "$name" ahws "$r" "$AHWS_PORT" "$AHWS_PID" $args
    if [ "$bare" = delay ]; then
      # shellcheck disable=SC2086
      bench "$name" bare "$r" "$DELAY_PORT" "$DELAY_PID" $args
      # shellcheck disable=SC2086
      bench "$name" bare4k "$r" "$DELAY4_PORT" "$DELAY4_PID" $args
    elif [ "$bare" = fanout ]; then
      # shellcheck disable=SC2086
      bench "$name" bare "$r" "$FAN_PORT" "$FAN_PID" $args
      # shellcheck disable=SC2086
      bench "$name" bare4k "$r" "$FAN4_PORT" "$FAN4_PID" $args
    else
      # shellcheck disable=SC2086
      bench "$name" bare "$r" "$ECHO_PORT" "$ECHO_PID" $args
      # shellcheck disable=SC2086
      bench "$name" bare4k "$r" "$ECHO4_PORT" "$ECHO4_PID" $args
    fi
    # shellcheck disable=SC2086
    bench "$name" actionhero "$r" "$AH_PORT" "$AH_PID" $args --aux-pid "$REDIS_PID"
  done
done
stop "$AHWS_PID"
stop "$ECHO_PID"
stop "$FAN_PID"
stop "$ECHO4_PID"
stop "$FAN4_PID"
stop "$DELAY_PID"
stop "$DELAY4_PID"
stop "$AH_PID"

if [[ hold =~ $ONLY ]] || [ "$ONLY" = . ]; then
  log "memory: $HOLD idle connections on a fresh server of each kind"
  start_ahws hold
  BENCH_SECS=3 BENCH_WARMUP=0 bench "hold-$HOLD" ahws 1 "$PORT" "$PID" --mode hold --clients "$HOLD"
  stop "$PID"
  start_base echo hold
  BENCH_SECS=3 BENCH_WARMUP=0 bench "hold-$HOLD" bare 1 "$PORT" "$PID" --mode hold --clients "$HOLD"
  stop "$PID"
  start_base echo hold4k --read-buffer 4096
  BENCH_SECS=3 BENCH_WARMUP=0 bench "hold-$HOLD" bare4k 1 "$PORT" "$PID" --mode hold --clients "$HOLD"
  stop "$PID"
  start_ah hold
  BENCH_SECS=3 BENCH_WARMUP=0 bench "hold-$HOLD" actionhero 1 "$PORT" "$PID" --mode hold --clients "$HOLD"
  stop "$PID"
fi

printf '{"end":{"load_end":"%s","date":"%s"}}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)" >>"$RESULTS"
node benches/report.js "$RESULTS" >"$OUT/results.md"
cat "$OUT/results.md"
if [ "${UPDATE_DOC:-0}" = 1 ]; then
  mkdir -p benches/results
  kept=benches/results/$(date -u +%F-%H%M).jsonl
  cp "$RESULTS" "$kept"
  node benches/report.js "$RESULTS" --update BENCHMARKS.md
  log "BENCHMARKS.md updated (results kept in $kept)"
fi
