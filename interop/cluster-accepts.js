#!/usr/bin/env node
"use strict";
// Does a REAL Actionhero 29.3.5 node act on channel messages written by another
// implementation? Driven by tests/cluster_live.rs (which encodes the messages with
// actionhero_ws::cluster), over a line protocol on stdin/stdout:
//
//  1. starts a private redis-server (start-redis.sh --new; stopped at the end), boots
//     Actionhero in this process (the interop project config, serverId `ah-node`,
//     serverToken `live-token`), connects a raw WebSocket client that joins `otherRoom`,
//     and starts `chatRoom.addMember("rust-conn", "otherRoom")`, which publishes a `do`
//     and waits for its answer;
//  2. prints `READY <json>` with {connectionId, pendingCall: <that do message, raw>};
//  3. publishes every stdin line, as it is, on the channel `actionhero` until stdin ends;
//  4. prints `RESULT <json>` with what the node did: the frames its WebSocket client got,
//     how the addMember call ended, the client's rooms (detailsView), and every other
//     message published on the channel meanwhile (raw), then exits 0.
// Everything else goes to stderr; exit 1 on any failure.

const path = require("path");
const fs = require("fs");
const readline = require("readline");
const { execFileSync } = require("child_process");

const HERE = __dirname;
const RUN_DIR = path.join(HERE, ".run");
const SERVER_HOME = path.join(HERE, "actionhero-server");

const redisAddr = execFileSync(path.join(HERE, "start-redis.sh"), ["--new"]).toString().trim();
const [REDIS_HOST, REDIS_PORT] = redisAddr.split(":");
const redisPidFile = path.join(RUN_DIR, `redis-${REDIS_PORT}.pid`);

Object.assign(process.env, {
  NODE_ENV: "development",
  PROJECT_ROOT: SERVER_HOME,
  ACTIONHERO_CONFIG: path.join(SERVER_HOME, "config"),
  ACTIONHERO_TYPESCRIPT_MODE: "false",
  ACTIONHERO_TITLE: "ah-node",
  PORT: "0",
  BIND_IP: "127.0.0.1",
  REDIS_HOST,
  REDIS_PORT,
  REDIS_DB: "0",
  PUBLIC_DIR: path.join(SERVER_HOME, "public"),
  SERVER_TOKEN: "live-token",
  INTEROP_RUN_DIR: RUN_DIR,
  LOG_LEVEL: process.env.LOG_LEVEL || "emerg",
});
delete process.env.REDIS_URL;
delete process.env.JEST_WORKER_ID;
delete process.env.ACTIONHERO_CONFIG_OVERRIDES;
fs.mkdirSync(path.join(RUN_DIR, "pids"), { recursive: true });
process.chdir(SERVER_HOME);

const Redis = require("ioredis");
const WebSocket = require("ws");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stopRedis() {
  try {
    process.kill(parseInt(fs.readFileSync(redisPidFile, "utf8"), 10));
  } catch (e) {}
}

async function main() {
  const admin = new Redis({ host: REDIS_HOST, port: +REDIS_PORT });
  await admin.flushdb();
  const seen = [];
  const sub = new Redis({ host: REDIS_HOST, port: +REDIS_PORT });
  await sub.subscribe("actionhero");
  sub.on("messageBuffer", (_channel, message) => seen.push(message.toString()));

  const { Process, api, chatRoom, config } = require("actionhero");
  const app = new Process();
  await app.start();
  config.general.rpcTimeout = 15000;
  const port = api.servers.servers.web.server.address().port;

  const ws = new WebSocket(`ws://127.0.0.1:${port}/primus`);
  const frames = [];
  ws.on("message", (data) => frames.push(data.toString()));
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
  });
  const request = async (msg) => {
    const messageId = `m${frames.length}-${Math.random()}`;
    ws.send(JSON.stringify({ ...msg, messageId }));
    for (let i = 0; i < 200; i++) {
      const f = frames.map((t) => JSON.parse(t)).find((x) => x && x.messageId === messageId);
      if (f) return f;
      await sleep(25);
    }
    throw new Error(`no answer to ${JSON.stringify(msg)}`);
  };
  const connectionId = (await request({ event: "detailsView" })).data.id;
  const joined = await request({ event: "roomAdd", room: "otherRoom" });
  if (joined.error) throw new Error(`roomAdd: ${joined.error}`);
  await sleep(100);

  const before = seen.length;
  let addMember = { state: "pending" };
  chatRoom.addMember("rust-conn", "otherRoom").then(
    (value) => (addMember = { state: "resolved", value }),
    (e) => (addMember = { state: "rejected", error: String(e) }),
  );
  for (let i = 0; i < 100 && seen.length === before; i++) await sleep(20);
  const pendingCall = seen[before];
  if (!pendingCall) throw new Error("addMember published nothing");
  const framesBefore = frames.length;
  process.stdout.write(`READY ${JSON.stringify({ connectionId, pendingCall })}\n`);

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length > 0) await admin.publish("actionhero", line);
  }
  await sleep(300);
  const rooms = (await request({ event: "detailsView" })).data.rooms;
  const result = {
    frames: frames.slice(framesBefore).filter((t) => !t.includes('"messageId"')),
    addMember,
    rooms,
    channel: seen.slice(before + 1),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  ws.close();
  await app.stop();
  sub.disconnect();
  admin.disconnect();
}

main()
  .then(() => {
    stopRedis();
    process.exit(0);
  })
  .catch((e) => {
    process.stderr.write(`cluster-accepts.js: ${e && e.stack ? e.stack : e}\n`);
    stopRedis();
    process.exit(1);
  });
