#!/usr/bin/env bash
# benches/cluster.sh — say deliveries per second in a two-node cluster through Redis:
# two `ahws serve --redis` nodes against two real Actionhero 29.3.5 nodes, the same
# generator (`ahws bench --mode broadcast`, clients spread over both nodes in turn), in
# one run. Each cluster has a private redis-server of its own, whose CPU is reported
# apart (`aux_cpu_*`). Run by hand (not part of scripts/test or CI); about 2 minutes.
#
#   benches/cluster.sh                  # results in target/bench-results/cluster.jsonl
#
# Env: RUNS (3) runs per cluster, SECS (5) measured seconds, WARMUP (1), CLIENTS (1000:
# 500 members per node), SENDERS (4), OUT (target/bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-3}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-1000}
SENDERS=${SENDERS:-4}
OUT=${OUT:-target/bench-results}
mkdir -p "$OUT"
RESULTS=$OUT/cluster.jsonl
: >"$RESULTS"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { printf '# %s\n' "$*" >&2; }

# shellcheck source=benches/lib.sh
. benches/lib.sh
REDIS_PIDFILES=()
cleanup_all() {
  cleanup
  for f in "${REDIS_PIDFILES[@]}"; do kill "$(cat "$f")" 2>/dev/null || true; done
}
trap cleanup_all EXIT

log "building (release)"
cargo build --release -q -p ahws --bins
AHWS=$ROOT/target/release/ahws
interop/ensure.sh

new_redis() { # sets REDIS and REDIS_PID
  REDIS=$(interop/start-redis.sh --new)
  local f=$ROOT/interop/.run/redis-${REDIS##*:}.pid
  REDIS_PIDFILES+=("$f")
  REDIS_PID=$(cat "$f")
}

start_ahws() { # tag redis
  "$AHWS" serve --quiet --listen 127.0.0.1:0 --redis "redis://$2" --server-id "$1" 2>"$OUT/cluster-ahws-$1.err" &
  PID=$!
  PIDS+=("$PID")
  PORT=$(wait_line "$OUT/cluster-ahws-$1.err" 'listening on ws://[0-9.]+:[0-9]+' | grep -Eo '[0-9]+$')
}
start_ah() { # tag redis [flush]
  # One cluster: the same token (boot.js makes a private one per process otherwise),
  # and only the first node flushes the redis.
  PORT=0 REDIS_HOST=${2%:*} REDIS_PORT=${2##*:} SERVER_TOKEN=change-me REDIS_FLUSH=${3:-1} \
    node interop/actionhero-server/boot.js >"$OUT/cluster-ah-$1.out" 2>"$OUT/cluster-ah-$1.err" &
  PID=$!
  PIDS+=("$PID")
  PORT=$(wait_line "$OUT/cluster-ah-$1.out" 'READY [0-9]+' | grep -Eo '[0-9]+$')
}

new_redis
OURS_REDIS=$REDIS OURS_REDIS_PID=$REDIS_PID
start_ahws a "$OURS_REDIS"
A_PID=$PID A_PORT=$PORT
start_ahws b "$OURS_REDIS"
B_PID=$PID B_PORT=$PORT
new_redis
AH_REDIS=$REDIS AH_REDIS_PID=$REDIS_PID
start_ah a "$AH_REDIS"
C_PID=$PID C_PORT=$PORT
start_ah b "$AH_REDIS" 0
D_PID=$PID D_PORT=$PORT
log "ahws :$A_PORT,:$B_PORT (redis $OURS_REDIS)  actionhero :$C_PORT,:$D_PORT (redis $AH_REDIS)"

machine=$(printf '{"machine":{"cpu":"%s","cores":%s,"date":"%s","load_start":"%s","runs":%s,"seconds":%s,"clients":%s,"senders":%s}}' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" "$(date -u +%FT%TZ)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$RUNS" "$SECS" "$CLIENTS" "$SENDERS")
echo "$machine" >>"$RESULTS"
log "$machine"

bench() { # server run urls pids aux
  local json
  if ! json=$("$AHWS" bench --mode broadcast --clients "$CLIENTS" --senders "$SENDERS" --inflight 1 \
    --url "$3" --server-pid "$4" --aux-pid "$5" --seconds "$SECS" --warmup "$WARMUP" --quiet 2>>"$OUT/cluster-bench.err"); then
    json='{"failed":true}'
  fi
  printf '{"workload":"cluster-broadcast","server":"%s","run":%s,"result":%s}\n' "$1" "$2" "$json" >>"$RESULTS"
  printf '# %-10s run %s: %s\n' "$1" "$2" \
    "$(echo "$json" | grep -Eo '"(rate|server_cpu_us_per_msg|aux_cpu_us_per_msg|p99_us)":[0-9.e+-]+|"failed":true' | tr '\n' ' ')" >&2
}

for r in $(seq "$RUNS"); do
  bench ahws "$r" "ws://127.0.0.1:$A_PORT,ws://127.0.0.1:$B_PORT" "$A_PID,$B_PID" "$OURS_REDIS_PID"
  bench actionhero "$r" "ws://127.0.0.1:$C_PORT,ws://127.0.0.1:$D_PORT" "$C_PID,$D_PID" "$AH_REDIS_PID"
done

node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
for (const server of ["ahws", "actionhero"]) {
  const rs = lines.filter((l) => l.server === server && !l.result.failed).map((l) => l.result);
  const f = (get, digits) => med(rs.map(get)).toFixed(digits);
  console.log(`${server}: ${f((r) => r.rate, 0)} deliveries/s (runs: ${rs.map((r) => Math.round(r.rate)).join(", ")}), ` +
    `server CPU ${f((r) => r.server_cpu_us_per_msg, 2)} us/delivery, redis ${f((r) => r.aux_cpu_us_per_msg, 2)} us/delivery, ` +
    `say p50/p99 ${f((r) => r.latency_us.p50, 0)}/${f((r) => r.latency_us.p99, 0)} us`);
}' "$RESULTS"
