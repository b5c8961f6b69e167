#!/usr/bin/env node
"use strict";
// Boots a REAL Actionhero 29.3.5 (from interop/node_modules) for interop tests.
//
// Env (all optional):
//   PORT           HTTP + WebSocket port on BIND_IP (default 8080; 0 = any free port)
//   BIND_IP        listen address (default 127.0.0.1)
//   REDIS_HOST     default 127.0.0.1
//   REDIS_PORT     default 6379
//   REDIS_DB       default 0; this DB is FLUSHED at boot (see REDIS_FLUSH)
//   REDIS_FLUSH    "0" = do not flush REDIS_DB at boot (default: flush)
//   PING_INTERVAL  Primus server pingInterval in ms (default: Primus default 30000; 0 = no pings)
//   PUBLIC_DIR     directory served by the `file` verb (default actionhero-server/public)
//   SERVER_TOKEN   cluster token (default: unique per process, isolating redis pub/sub)
//   LOG_LEVEL      Actionhero log level, logs go to stderr (default warning)
//   CLIENT_JS      "1" = write <PUBLIC_DIR>/javascript/ActionheroWebsocketClient.js at boot (stock); default off
//   AUTOMATIC_ROUTES  e.g. "get,post": Actionhero's own setting, a route /api/<action> for every action
//   CONTROL        "1" = after READY, take requests on stdin and answer `RESULT <json>` lines
//                  on stdout (chatRoom calls, raw WebSocket clients: see control.js)
//
// Stdout: exactly one line `READY <port>` once the server accepts WebSocket connections.
// Exit: 0 after SIGTERM/SIGINT shutdown; 1 on boot failure or crash; 2 when redis is unreachable.

const path = require("path");
const fs = require("fs");
const crypto = require("crypto");

const HERE = __dirname;
const RUN_DIR = path.join(HERE, "..", ".run");

function fail(code, msg) {
  process.stderr.write(`boot.js: ${msg}\n`);
  process.exit(code);
}

// ---- environment for Actionhero (must be set before `require("actionhero")`,
// which builds its config at module load) ----
process.env.NODE_ENV = "development"; // stock behaviour; never Actionhero's `test` env
process.env.PROJECT_ROOT = HERE;
process.env.ACTIONHERO_CONFIG = path.join(HERE, "config");
process.env.ACTIONHERO_TYPESCRIPT_MODE = "false";
process.env.PORT = process.env.PORT || "8080";
process.env.REDIS_HOST = process.env.REDIS_HOST || "127.0.0.1";
process.env.REDIS_PORT = process.env.REDIS_PORT || "6379";
process.env.REDIS_DB = process.env.REDIS_DB || "0";
process.env.PUBLIC_DIR = path.resolve(process.env.PUBLIC_DIR || path.join(HERE, "public"));
process.env.SERVER_TOKEN =
  process.env.SERVER_TOKEN || `interop-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
process.env.INTEROP_RUN_DIR = RUN_DIR;
process.env.ACTIONHERO_SHUTDOWN_TIMEOUT = process.env.ACTIONHERO_SHUTDOWN_TIMEOUT || "5000";
// these would override the settings above
delete process.env.REDIS_URL;
delete process.env.JEST_WORKER_ID;
delete process.env.ACTIONHERO_CONFIG_OVERRIDES;

if (!fs.existsSync(path.join(process.env.PUBLIC_DIR))) {
  fail(1, `PUBLIC_DIR ${process.env.PUBLIC_DIR} does not exist`);
}
// Actionhero's pid module does a non-recursive mkdir of the pid dir at load time
fs.mkdirSync(path.join(RUN_DIR, "pids"), { recursive: true });
process.chdir(HERE);

async function flushRedis() {
  if (process.env.REDIS_FLUSH === "0") return;
  const Redis = require("ioredis");
  const r = new Redis({
    host: process.env.REDIS_HOST,
    port: parseInt(process.env.REDIS_PORT, 10),
    db: parseInt(process.env.REDIS_DB, 10),
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  r.on("error", () => {});
  try {
    await r.connect();
    // stale rooms, room members of dead processes, cache keys and resque state
    // from earlier runs would change roomView/cacheTest/status answers
    await r.flushdb();
  } catch (e) {
    fail(2, `redis ${process.env.REDIS_HOST}:${process.env.REDIS_PORT} db ${process.env.REDIS_DB}: ${e.message}`);
  } finally {
    r.disconnect();
  }
}

async function main() {
  await flushRedis();
  const { Process, api, chatRoom } = require("actionhero");
  const app = new Process();
  // SIGTERM/SIGINT -> graceful stop -> exit 0; uncaught exception/rejection -> stop -> exit 1
  app.registerProcessSignals((exitCode) => process.exit(exitCode));
  try {
    await app.start();
  } catch (e) {
    fail(1, `Actionhero failed to start: ${e && e.stack ? e.stack : e}`);
  }
  if (!app.started || !api.servers.servers.websocket) fail(1, "Actionhero did not start the websocket server");
  const address = api.servers.servers.web.server.address();
  process.stdout.write(`READY ${address.port}\n`);
  if (process.env.CONTROL === "1") {
    require("./control").start({ api, chatRoom, id: require("actionhero").id });
  }
}

main().catch((e) => fail(1, e && e.stack ? e.stack : String(e)));
