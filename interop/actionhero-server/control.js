"use strict";
// A line protocol on stdin/stdout that lets a test drive a booted Actionhero node
// (boot.js with CONTROL=1, after its `READY <port>` line). Used by
// adapters/tokio/tests/mixed_cluster.rs.
//
// Each stdin line is one JSON request {"id": <any>, "call": <name>, "args": [...]};
// each answer is one stdout line `RESULT {"id": <same>, "ok": true, "value": <json>}`
// or `RESULT {"id": <same>, "ok": false, "error": "<message>"}`, in completion order.
// Calls:
//   serverId                    -> this node's server id (Actionhero's `id`)
//   chatRoom.<method> ...args   -> `await chatRoom[method](...args)` (add, destroy,
//                                  exists, list, roomStatus, addMember, removeMember)
//   ws.open url                 -> a raw WebSocket client (the `ws` package) on `url`;
//                                  value {conn, connectionId} (connectionId from detailsView)
//   ws.request conn msg         -> sends msg with a fresh messageId; value: the answer frame
//                                  (parsed), up to 5 s
//   ws.frames conn n            -> waits (up to 5 s) until at least n frames WITHOUT a
//                                  messageId arrived on conn, then returns the first n, verbatim,
//                                  and forgets them
// stdin closing ends nothing: the node stops on SIGTERM/SIGINT as usual.

const readline = require("readline");

function start({ api, chatRoom, id }) {
  const WebSocket = require("ws");
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const sockets = [];
  let seq = 0;

  const until = async (what, test) => {
    for (let i = 0; i < 500; i++) {
      const v = test();
      if (v !== undefined) return v;
      await sleep(10);
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  const request = async (conn, msg) => {
    const s = sockets[conn];
    if (!s) throw new Error(`no socket ${conn}`);
    const messageId = `ctl-${++seq}`;
    s.ws.send(JSON.stringify({ ...msg, messageId }));
    return until(`the answer to ${JSON.stringify(msg)}`, () => {
      const i = s.answers.findIndex((f) => f.messageId === messageId);
      return i < 0 ? undefined : s.answers.splice(i, 1)[0];
    });
  };

  const calls = {
    serverId: async () => id,
    "ws.open": async (url) => {
      const ws = new WebSocket(url);
      const s = { ws, answers: [], pushed: [] };
      ws.on("message", (data) => {
        const text = data.toString();
        let parsed;
        try {
          parsed = JSON.parse(text);
        } catch (e) {
          parsed = undefined;
        }
        if (parsed && parsed.messageId !== undefined) s.answers.push(parsed);
        else s.pushed.push(text);
      });
      await new Promise((res, rej) => {
        ws.once("open", res);
        ws.once("error", rej);
      });
      const conn = sockets.push(s) - 1;
      const details = await request(conn, { event: "detailsView" });
      s.pushed = s.pushed.filter((t) => !t.includes('"context":"api"')); // the welcome
      return { conn, connectionId: details.data.id };
    },
    "ws.request": request,
    "ws.frames": async (conn, n) => {
      const s = sockets[conn];
      if (!s) throw new Error(`no socket ${conn}`);
      await until(`${n} frames on socket ${conn}`, () => (s.pushed.length >= n ? true : undefined));
      return s.pushed.splice(0, n);
    },
  };

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", async (line) => {
    if (!line.trim()) return;
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      process.stdout.write(`RESULT ${JSON.stringify({ id: null, ok: false, error: `bad line: ${e.message}` })}\n`);
      return;
    }
    let answer;
    try {
      const args = req.args || [];
      let value;
      if (req.call.startsWith("chatRoom.")) {
        const method = chatRoom[req.call.slice("chatRoom.".length)];
        if (typeof method !== "function") throw new Error(`no such call ${req.call}`);
        value = await method(...args);
      } else if (calls[req.call]) {
        value = await calls[req.call](...args);
      } else {
        throw new Error(`no such call ${req.call}`);
      }
      answer = { id: req.id, ok: true, value: value === undefined ? null : value };
    } catch (e) {
      answer = { id: req.id, ok: false, error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(`RESULT ${JSON.stringify(answer)}\n`);
  });
  api.log("control: reading requests on stdin", "debug");
}

module.exports = { start };
