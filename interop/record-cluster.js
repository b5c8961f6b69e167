#!/usr/bin/env node
"use strict";
// Records what a REAL Actionhero 29.3.5 node publishes on its redis pub/sub channel
// and stores in its chat-room keys, into tests/fixtures/cluster/ (see the README there).
//
// Usage: node interop/record-cluster.js [OUT_DIR]   (default tests/fixtures/cluster)
//
// It starts a private redis-server (interop/start-redis.sh --new) and stops it at the
// end, subscribes a raw ioredis subscriber to the channel `actionhero` BEFORE the node
// starts, then boots Actionhero in this process (the same project config as
// actionhero-server/boot.js, serverId `recorder-node`, serverToken `recorded-token`),
// drives it with two raw WebSocket clients (say / roomAdd / roomLeave) and with direct
// calls of its own API (redis.doCluster, chatRoom.*, connections.apply), stops it, and
// writes every channel message byte for byte as it came from redis:
//   channel/NN-<messageType>-<what>.json   one published message each, in publish order
//   members/<room>-<n>.json                 members-hash values (HGETALL) after the joins
//   rooms.txt                               SMEMBERS actionhero:chatRoom:rooms, sorted
// Existing files in channel/ and members/ are removed first.

const path = require("path");
const fs = require("fs");
const { execFileSync } = require("child_process");

const HERE = __dirname;
const ROOT = path.join(HERE, "..");
const OUT = path.resolve(process.argv[2] || path.join(ROOT, "tests", "fixtures", "cluster"));
const RUN_DIR = path.join(HERE, ".run");
const SERVER_HOME = path.join(HERE, "actionhero-server");
const TOKEN = "recorded-token";
const TITLE = "recorder-node";

const redisAddr = execFileSync(path.join(HERE, "start-redis.sh"), ["--new"]).toString().trim();
const [REDIS_HOST, REDIS_PORT] = redisAddr.split(":");
const redisPidFile = path.join(RUN_DIR, `redis-${REDIS_PORT}.pid`);

// Environment for Actionhero, as in actionhero-server/boot.js (set before the require).
Object.assign(process.env, {
  NODE_ENV: "development",
  PROJECT_ROOT: SERVER_HOME,
  ACTIONHERO_CONFIG: path.join(SERVER_HOME, "config"),
  ACTIONHERO_TYPESCRIPT_MODE: "false",
  ACTIONHERO_TITLE: TITLE,
  PORT: "0",
  BIND_IP: "127.0.0.1",
  REDIS_HOST,
  REDIS_PORT,
  REDIS_DB: "0",
  PUBLIC_DIR: path.join(SERVER_HOME, "public"),
  SERVER_TOKEN: TOKEN,
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
const recorded = []; // Buffers, in arrival order

function stopRedis() {
  try {
    process.kill(parseInt(fs.readFileSync(redisPidFile, "utf8"), 10));
  } catch (e) {}
}

/** A raw Primus (websockets transformer, JSON parser) client: one JSON text per frame. */
async function wsClient(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/primus`);
  const frames = [];
  const waiters = [];
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    frames.push(m);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
  });
  let nextId = 1;
  return {
    ws,
    frames,
    async request(msg) {
      const messageId = `m${nextId++}`;
      ws.send(JSON.stringify({ ...msg, messageId }));
      for (let i = 0; i < 200; i++) {
        const f = frames.find((x) => x && x.messageId === messageId);
        if (f) return f;
        await new Promise((r) => {
          waiters.push(r);
          setTimeout(r, 25);
        });
      }
      throw new Error(`no answer to ${JSON.stringify(msg)}`);
    },
  };
}

async function main() {
  const admin = new Redis({ host: REDIS_HOST, port: +REDIS_PORT });
  await admin.flushdb();
  const sub = new Redis({ host: REDIS_HOST, port: +REDIS_PORT });
  await sub.subscribe("actionhero");
  sub.on("messageBuffer", (channel, message) => {
    if (channel.toString() === "actionhero") recorded.push(Buffer.from(message));
  });

  const { Process, api, redis, chatRoom, config } = require("actionhero");
  const app = new Process();
  await app.start();
  config.general.rpcTimeout = 300; // the addMember call below can only time out
  const port = api.servers.servers.web.server.address().port;
  const settle = () => sleep(150);
  await settle();

  const a = await wsClient(port);
  const b = await wsClient(port);
  const idA = (await a.request({ event: "detailsView" })).data.id;
  const idB = (await b.request({ event: "detailsView" })).data.id;
  const ok = (f, what) => {
    if (f.error) throw new Error(`${what}: ${JSON.stringify(f)}`);
  };
  ok(await a.request({ event: "roomAdd", room: "otherRoom" }), "a roomAdd otherRoom");
  ok(await b.request({ event: "roomAdd", room: "otherRoom" }), "b roomAdd otherRoom");
  ok(await b.request({ event: "roomAdd", room: "defaultRoom" }), "b roomAdd defaultRoom");
  // The members hashes as Actionhero wrote them.
  fs.rmSync(path.join(OUT, "members"), { recursive: true, force: true });
  fs.mkdirSync(path.join(OUT, "members"), { recursive: true });
  for (const room of ["otherRoom", "defaultRoom"]) {
    const hash = await admin.hgetallBuffer(`actionhero:chatRoom:members:${room}`);
    const ids = Object.keys(hash).sort((x, y) => (x === idA ? -1 : y === idA ? 1 : 0));
    ids.forEach((id, n) => fs.writeFileSync(path.join(OUT, "members", `${room}-${n + 1}.json`), hash[id]));
  }
  const rooms = (await admin.smembers("actionhero:chatRoom:rooms")).sort();
  fs.writeFileSync(path.join(OUT, "rooms.txt"), rooms.join("\n") + "\n");

  // says from a client: a plain string, then one with every escape class and JS key order
  ok(await a.request({ event: "say", room: "otherRoom", message: "hello from a" }), "say plain");
  ok(
    await a.request({
      event: "say",
      room: "otherRoom",
      message: "quote\" backslash\\ nl\n tab\t ctl\u0001\u001f del\u007f e\u0301 \u2028\u2029 😀 </script>",
    }),
    "say escapes",
  );
  ok(
    await b.request({
      event: "say",
      room: "otherRoom",
      message: { structured: [1, 2.5, -0, 1e21, 1.5e-7, 123456789012345680000, true, null], b: "x", 7: "seven" },
    }),
    "say object (the WebSocket server sends it as \"[object Object]\")",
  );
  await settle();

  // RPC as Actionhero's own code issues it
  const removed = await redis.doCluster("api.chatRoom.removeMember", [idA, "otherRoom"], idA, true);
  if (removed !== true) throw new Error(`removeMember answered ${removed}`);
  await settle();
  await api.connections.apply(idB, "sendMessage", { message: "pushed through applyResponder" });
  await settle();
  await chatRoom.removeMember("ghost-connection", "defaultRoom", false); // not ours: published, never answered
  await settle();
  try {
    await chatRoom.addMember("ghost-connection", "otherRoom"); // always an RPC Timeout
  } catch (e) {
    if (!/RPC Timeout/.test(String(e))) throw e;
  }
  await redis.doCluster("api.no.such.method", null);
  await redis.doCluster("api.log", "a single argument, not a list");
  await settle();
  // a broadcast by the server itself (connection `{}`: from "0"), and a room destroyed
  // (a say from a WebSocket client is always a string: the server String()s it, see 05)
  await chatRoom.broadcast({}, "defaultRoom", {
    notice: "from the server",
    structured: [1, 2.5, -0, 1e21, 1.5e-7, 123456789012345680000, true, null, "\u2028"],
    7: "seven (an array-index key: JSON.stringify writes it first)",
  });
  await settle();
  await chatRoom.destroy("otherRoom");
  await settle();
  ok(await b.request({ event: "roomLeave", room: "defaultRoom" }), "b roomLeave defaultRoom");
  await settle();

  a.ws.close();
  b.ws.close();
  await settle();
  await app.stop(); // publishes "has left the cluster" after unsubscribing: nobody answers
  await settle();

  fs.rmSync(path.join(OUT, "channel"), { recursive: true, force: true });
  fs.mkdirSync(path.join(OUT, "channel"), { recursive: true });
  recorded.forEach((buf, i) => {
    const m = JSON.parse(buf.toString());
    const what =
      m.messageType === "do"
        ? m.method.replace(/^api\./, "").replace(/\./g, "_")
        : m.messageType === "doResponse"
          ? "response" in m
            ? typeof m.response === "object"
              ? "object"
              : String(m.response)
            : "none"
          : m.connection && m.connection.id === "0"
            ? "server"
            : typeof m.message === "object"
              ? "object"
              : "text";
    const name = `${String(i + 1).padStart(2, "0")}-${m.messageType}-${what}.json`;
    fs.writeFileSync(path.join(OUT, "channel", name), buf);
  });
  process.stderr.write(`record-cluster.js: ${recorded.length} channel messages into ${OUT}\n`);
  sub.disconnect();
  admin.disconnect();
}

main()
  .then(() => {
    stopRedis();
    process.exit(0);
  })
  .catch((e) => {
    process.stderr.write(`record-cluster.js: ${e && e.stack ? e.stack : e}\n`);
    stopRedis();
    process.exit(1);
  });
