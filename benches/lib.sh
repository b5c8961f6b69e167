# benches/lib.sh — helpers shared by the bench scripts (sourced, not run).
#
# PIDS: background processes that `cleanup` kills and waits for; REDIS_PIDFILE: the pid
# file of a private redis that `cleanup` also stops. A script sets `trap cleanup EXIT`.

PIDS=()
REDIS_PIDFILE=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$REDIS_PIDFILE" ] && [ -f "$REDIS_PIDFILE" ]; then
    kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true
  fi
}

# wait_line FILE REGEX: waits (30 s) for a line matching REGEX in FILE, prints it; on
# timeout prints FILE to stderr and fails.
wait_line() {
  for _ in $(seq 300); do
    if grep -Eo "$2" "$1" 2>/dev/null | head -1 | grep .; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for /$2/ in $1" >&2
  cat "$1" >&2 || true
  return 1
}
