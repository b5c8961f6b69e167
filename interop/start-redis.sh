#!/usr/bin/env bash
# Prints `host:port` of a reachable redis on stdout (one line).
#   - 127.0.0.1:6379 when a redis answers PING there (unless --new is given);
#   - otherwise starts a private `redis-server` on a free loopback port
#     (--save "" --appendonly no --daemonize yes), waits until it answers and prints it.
#     Its pid is in interop/.run/redis-<port>.pid; stop it with `kill $(cat that file)`.
# Exit: 0 ok, 1 no redis could be found or started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ping_redis() { # host port
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null || true)" = "PONG" ]
  else
    ( exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && IFS= read -r -t 2 line <&3 && [[ "$line" == +PONG* ]] ) 2>/dev/null
  fi
}

if [ "${1:-}" != "--new" ] && ping_redis 127.0.0.1 6379; then
  echo "127.0.0.1:6379"
  exit 0
fi

command -v redis-server >/dev/null || { echo "start-redis.sh: no redis on 6379 and no redis-server binary" >&2; exit 1; }
mkdir -p .run
RUN_DIR="$(pwd)/.run"
for attempt in 1 2 3; do
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})')
  if redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --dir "$RUN_DIR" --pidfile "$RUN_DIR/redis-$port.pid" --logfile "$RUN_DIR/redis-$port.log" >/dev/null 2>&1; then
    for _ in $(seq 100); do
      if ping_redis 127.0.0.1 "$port"; then
        echo "127.0.0.1:$port"
        exit 0
      fi
      sleep 0.05
    done
  fi
done
echo "start-redis.sh: could not start redis-server" >&2
exit 1
