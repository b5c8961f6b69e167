#!/usr/bin/env bash
# benches/api.sh — `/api` actions per second over HTTP keep-alive: `ahws serve` side by
# side with a real Actionhero 29.3.5, same generator (wrk, Debian package `wrk`), same
# run. Both serve `GET /api/randomNumber` (Actionhero through AUTOMATIC_ROUTES=get: its
# `?action=` form answers 404). Run by hand; about two minutes with the defaults.
#
# Env: RUNS (3) runs per server, SECS (10) seconds per run, CONNS (50) connections,
# OUT (target/bench-results).
# Prints one line per server: the median requests/s, the runs, and the server's CPU per
# request (from /proc/<pid>/stat utime+stime over each run).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-50}
OUT=${OUT:-target/bench-results}
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "api.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }

# shellcheck source=benches/lib.sh
. benches/lib.sh
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # name pid port
  local name=$1 pid=$2 port=$3 rates=() cpus=()
  wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/api/randomNumber" >/dev/null # warm-up
  for _ in $(seq "$RUNS"); do
    local t0 t1 out rate
    t0=$(cpu_ticks "$pid")
    out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$port/api/randomNumber")
    t1=$(cpu_ticks "$pid")
    if echo "$out" | grep -q 'Non-2xx'; then
      echo "$name answered errors:" >&2
      echo "$out" >&2
      exit 1
    fi
    rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    rates+=("$rate")
    cpus+=("$(awk -v t="$((t1 - t0))" -v r="$rate" -v s="$SECS" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "%.1f", t / hz * 1e6 / (r * s) }')")
  done
  local median
  median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
  printf '%-10s median %s req/s   runs %s   server CPU µs/req %s\n' \
    "$name" "$median" "${rates[*]}" "${cpus[*]}"
}

echo "# building (release)" >&2
cargo build --release -q -p ahws --bin ahws
interop/ensure.sh
REDIS=$(interop/start-redis.sh --new)
REDIS_PIDFILE=$PWD/interop/.run/redis-${REDIS##*:}.pid

target/release/ahws serve --quiet --listen 127.0.0.1:0 2>"$OUT/api-ahws.err" &
AHWS_PID=$!
PIDS+=("$AHWS_PID")
AHWS_PORT=$(wait_line "$OUT/api-ahws.err" 'listening on ws://[0-9.]+:[0-9]+' | grep -Eo '[0-9]+$')

AUTOMATIC_ROUTES=get PORT=0 REDIS_HOST=${REDIS%:*} REDIS_PORT=${REDIS##*:} \
  node interop/actionhero-server/boot.js >"$OUT/api-ah.out" 2>"$OUT/api-ah.err" &
AH_PID=$!
PIDS+=("$AH_PID")
AH_PORT=$(wait_line "$OUT/api-ah.out" 'READY [0-9]+' | grep -Eo '[0-9]+$')

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk -t1 -c$CONNS, ${SECS}s x $RUNS" >&2
measure ahws "$AHWS_PID" "$AHWS_PORT"
measure actionhero "$AH_PID" "$AH_PORT"
