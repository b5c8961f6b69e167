#!/usr/bin/env bash
# One command: install, get a redis, boot the REAL Actionhero 29.3.5, run
# `js-client.js all`, then the `reconnect` scenario (SIGKILL + restart of Actionhero on the
# same port when the client prints {"waiting":"restart"}), then stop everything.
#
# Env: REDIS_DB (default 0, flushed by boot.js), NEW_REDIS=1 (always start a private redis),
#      KEEP_LOGS=1 (print the Actionhero stderr logs at the end).
# Stdout: the js-client JSON lines, plus `# ...` progress lines. Exit: 0 all passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
HERE="$(pwd)"
RUN="$HERE/.run"
mkdir -p "$RUN"
T_START=$(date +%s%N)

AH_PID=""
CLIENT_PID=""
REDIS_PIDFILE=""
REDIS_PORT=""
PORT=""
RESULT=fail

log() { echo "# $*"; }

stop_pid() { # pid signal timeout_s
  local pid="$1" sig="$2" t="$3"
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq $((t * 20))); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$CLIENT_PID" TERM 2
  stop_pid "$AH_PID" TERM 10
  if [ -n "$REDIS_PIDFILE" ] && [ -f "$REDIS_PIDFILE" ]; then
    kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true
    for _ in $(seq 40); do [ -f "$REDIS_PIDFILE" ] || break; sleep 0.05; done
    rm -f "$RUN/redis-$REDIS_PORT.log"
  fi
  if [ -n "${PORT:-}" ]; then
    if [ "${KEEP_LOGS:-0}" = "1" ]; then cat "$RUN/ah-$PORT.log" 2>/dev/null; fi
    if [ "${RESULT:-fail}" = "pass" ]; then
      rm -f "$RUN/ah-$PORT.log" "$RUN/ah-$PORT.out" "$RUN/reconnect-$PORT.out"
    else
      echo "# logs kept: $RUN/ah-$PORT.log $RUN/reconnect-$PORT.out"
    fi
  fi
}
trap cleanup EXIT

# 1. install
./ensure.sh || { log "ensure.sh failed"; exit 1; }

# 2. redis
if [ "${NEW_REDIS:-0}" = "1" ]; then REDIS=$(./start-redis.sh --new); else REDIS=$(./start-redis.sh); fi || { log "no redis"; exit 1; }
REDIS_HOST=${REDIS%:*}
REDIS_PORT=${REDIS##*:}
if [ -f "$RUN/redis-$REDIS_PORT.pid" ] && [ "$REDIS_PORT" != "6379" ]; then REDIS_PIDFILE="$RUN/redis-$REDIS_PORT.pid"; fi
log "redis $REDIS (db ${REDIS_DB:-0})"

# 3. boot Actionhero on a free port
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})')

boot() { # starts boot.js on $PORT, waits for READY; sets AH_PID
  local out="$RUN/ah-$PORT.out" err="$RUN/ah-$PORT.log"
  : >"$out"
  REDIS_HOST=$REDIS_HOST REDIS_PORT=$REDIS_PORT REDIS_DB=${REDIS_DB:-0} PORT=$PORT \
    node actionhero-server/boot.js >"$out" 2>>"$err" &
  AH_PID=$!
  for _ in $(seq 300); do
    if grep -q '^READY ' "$out"; then return 0; fi
    kill -0 "$AH_PID" 2>/dev/null || break
    sleep 0.05
  done
  log "Actionhero did not print READY; stderr:"
  tail -20 "$err"
  return 1
}

: >"$RUN/ah-$PORT.log"
boot || exit 1
URL="http://127.0.0.1:$PORT"
log "actionhero pid $AH_PID ready at $URL"

# 4. all scenarios
node js-client.js all "$URL"
RC_ALL=$?
log "js-client all: exit $RC_ALL"

# 5. reconnect: kill + restart Actionhero when the client asks for it
CLIENT_OUT="$RUN/reconnect-$PORT.out"
: >"$CLIENT_OUT"
node js-client.js reconnect "$URL" >"$CLIENT_OUT" &
CLIENT_PID=$!
RC_RECONNECT=1
restarted=0
for _ in $(seq 400); do # up to 20 s for the waiting line
  if grep -q '^{"waiting":"restart"}$' "$CLIENT_OUT"; then
    log "client is waiting: SIGKILL actionhero pid $AH_PID and restart it on port $PORT"
    kill -KILL "$AH_PID" 2>/dev/null
    wait "$AH_PID" 2>/dev/null
    AH_PID=""
    boot && restarted=1
    break
  fi
  kill -0 "$CLIENT_PID" 2>/dev/null || break
  sleep 0.05
done
if [ "$restarted" = 1 ]; then
  wait "$CLIENT_PID"
  RC_RECONNECT=$?
else
  log "reconnect: the client never printed the waiting line (or restart failed)"
  stop_pid "$CLIENT_PID" TERM 2
fi
CLIENT_PID=""
cat "$CLIENT_OUT"
log "js-client reconnect: exit $RC_RECONNECT"

# 6. stop Actionhero gracefully (SIGTERM) and check its exit code
kill -TERM "$AH_PID" 2>/dev/null
wait "$AH_PID"
RC_STOP=$?
AH_PID=""
log "actionhero stopped with SIGTERM: exit $RC_STOP"

T_END=$(date +%s%N)
log "total $(((T_END - T_START) / 1000000)) ms"
if [ "$RC_ALL" = 0 ] && [ "$RC_RECONNECT" = 0 ] && [ "$RC_STOP" = 0 ]; then
  log "RESULT pass"
  RESULT=pass
  exit 0
fi
log "RESULT fail (all=$RC_ALL reconnect=$RC_RECONNECT stop=$RC_STOP)"
exit 1
