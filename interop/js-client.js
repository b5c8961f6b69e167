#!/usr/bin/env node
"use strict";
// Interop driver: the REAL ActionheroWebsocketClient (actionhero 29.3.5) over the REAL
// Primus 8 client, built the way Actionhero's websocket server builds it.
//
//   node js-client.js <scenario> <url>        e.g. node js-client.js all http://127.0.0.1:8080
//
// scenarios: welcome actions concurrent rooms say file fingerprint reconnect all, or several
// joined by commas (welcome,rooms). An https:// URL connects over wss:// (trust a test
// certificate with NODE_EXTRA_CA_CERTS=cert.pem).
//
// Stdout: one JSON object per line (see README.md):
//   {"scenario":S,"check":NAME,"ok":true}                              a passed check
//   {"scenario":S,"check":NAME,"ok":false,"expected":...,"got":...}   a failed check (+ "frames")
//   {"waiting":"restart"}                                              reconnect: restart the server now
//   {"scenario":S,"result":"pass"|"fail","checks":N,"failed":M,"ms":T} end of a scenario
//   {"final":true,"result":"pass"|"fail","checks":N,"failed":M,"ms":T} last line
// Exit: 0 all checks passed, 1 a check failed or a scenario timed out, 2 usage error.
//
// Env: SCENARIO_TIMEOUT_MS (default 20000), RECONNECT_WAIT_MS (default 60000),
//      EXPECT_REMOTE_IP (default 127.0.0.1), VERBOSE=1 (print every frame to stderr).

const path = require("path");
const fs = require("fs");
const util = require("util");

const NM = path.join(__dirname, "node_modules");
const Primus = require(path.join(NM, "primus"));
const AH_CLIENT_SOURCE = path.join(NM, "actionhero", "client", "ActionheroWebsocketClient.js");

const SCENARIO_TIMEOUT_MS = parseInt(process.env.SCENARIO_TIMEOUT_MS || "20000", 10);
const RECONNECT_WAIT_MS = parseInt(process.env.RECONNECT_WAIT_MS || "60000", 10);
const REQUEST_TIMEOUT_MS = 5000;
const EXPECT_REMOTE_IP = process.env.EXPECT_REMOTE_IP || "127.0.0.1";
const VERBOSE = process.env.VERBOSE === "1";
// INSTANT_ORDER=any: the concurrent scenario accepts the two randomNumbers in either order.
const INSTANT_ORDER_ANY = process.env.INSTANT_ORDER === "any";

const WELCOME = "Welcome to the actionhero api";
// the 101-byte public/simple.html shipped by Actionhero (and in actionhero-server/public)
const SIMPLE_HTML =
  "<h1>Actionhero</h1>\nI am a flat file being served to you via the API from ./public/simple.html<br />\n";
const NOT_FOUND = {
  error: "that file is not found",
  content: null,
  mime: "text/html",
  length: 22,
  context: "response",
};

// ---------------------------------------------------------------------------
// Client construction (docs/protocol.md#generated-client-library; actionhero/dist/servers/websocket.js
// compileActionheroWebsocketClientJS + renderClientJS)
// ---------------------------------------------------------------------------

// The Primus client library compiled for Node (ws transport), as Actionhero's tests do.
const Socket = Primus.createSocket({ transformer: "websockets", parser: "JSON", pathname: "/primus" });

function compileAHClientSource() {
  let src = fs.readFileSync(AH_CLIENT_SOURCE).toString();
  // same substitutions as WebSocketServer.compileActionheroWebsocketClientJS with the stock config
  const clientUrl = "window.location.origin"; // config.websocket.clientUrl
  src = src.replace(/%%URL%%/g, clientUrl);
  const defaults = { apiPath: "/api", cookieKey: "sessionID" }; // config.websocket.client
  defaults.url = clientUrl;
  let defaultsString = util.inspect(defaults);
  defaultsString = defaultsString.replace("'window.location.origin'", "window.location.origin");
  return src.replace("%%DEFAULTS%%", "return " + defaultsString);
}
const AH_SOURCE = compileAHClientSource();

// Evaluate the browser client with a window/document shim. `Primus` is the compiled
// client class, so the AH client takes its browser path (Primus.EventEmitter prototype,
// Primus.connect(urlWithSession(), options)).
function makeAHClientClass(origin, cookie) {
  const window = { location: { origin } };
  const document = { cookie: cookie || "" };
  const factory = new Function(
    "Primus",
    "window",
    "document",
    "XMLHttpRequest",
    AH_SOURCE + "\nreturn ActionheroWebsocketClient;",
  );
  return factory(Socket, window, document, undefined);
}

// ---------------------------------------------------------------------------
// output / checks
// ---------------------------------------------------------------------------

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const totals = { checks: 0, failed: 0 };
let current = null; // { name, checks, failed, conns }

function record(check, ok, extra) {
  totals.checks++;
  current.checks++;
  const line = { scenario: current.name, check, ok };
  if (!ok) {
    totals.failed++;
    current.failed++;
    Object.assign(line, extra || {});
    const frames = [];
    for (const c of current.conns) for (const f of c.frames.slice(-6)) frames.push(`${c.name} ${f}`);
    if (frames.length) line.frames = frames;
  }
  out(line);
  return ok;
}

const isInt = (v) => Number.isInteger(v);
const isMs = (v) => isInt(v) && Math.abs(v - Date.now()) < 24 * 3600 * 1000;
const isUuid4 = (v) => typeof v === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(v);
const isIsoDate = (v) => typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(v);
const isPort = (v) => isInt(v) && v > 0 && v < 65536;

function getPtr(obj, ptr) {
  const parts = ptr.split("/").slice(1);
  let o = obj;
  for (const p of parts) {
    if (o === null || typeof o !== "object" || !(p in o)) return { found: false };
    o = o[p];
  }
  return { found: true, value: o };
}
function setPtr(obj, ptr, value) {
  const parts = ptr.split("/").slice(1);
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p];
  o[parts[parts.length - 1]] = value;
}

// Compare a received frame with an expected object, key order included.
// `volatile` maps JSON pointers to predicates; those values are checked with the
// predicate and replaced by "<volatile>" on both sides. Also checks that the raw
// frame text is exactly JSON.stringify of the parsed value (canonical encoding).
function expectFrame(check, msg, expected, volatile = {}) {
  if (msg === undefined) return record(check, false, { expected, got: "<no frame>" });
  const got = JSON.parse(JSON.stringify(msg));
  const exp = JSON.parse(JSON.stringify(expected));
  const bad = [];
  for (const [ptr, pred] of Object.entries(volatile)) {
    const g = getPtr(got, ptr);
    if (!g.found) {
      bad.push(`${ptr} missing`);
      continue;
    }
    if (!pred(g.value)) bad.push(`${ptr}=${JSON.stringify(g.value)} fails ${pred.name || "predicate"}`);
    setPtr(got, ptr, "<volatile>");
    if (getPtr(exp, ptr).found) setPtr(exp, ptr, "<volatile>");
  }
  const gs = JSON.stringify(got);
  const es = JSON.stringify(exp);
  const raw = rawOf.get(msg);
  if (raw !== undefined && raw !== JSON.stringify(msg)) bad.push("raw frame text is not canonical JSON");
  if (gs !== es || bad.length) {
    const extra = { expected: es, got: gs };
    if (bad.length) extra.problems = bad;
    if (raw !== undefined) extra.raw = raw;
    return record(check, false, extra);
  }
  return record(check, true);
}

function expectEq(check, got, expected) {
  const gs = JSON.stringify(got);
  const es = JSON.stringify(expected);
  return gs === es ? record(check, true) : record(check, false, { expected: es, got: gs === undefined ? "undefined" : gs });
}

function expectTrue(check, cond, expected, got) {
  return cond ? record(check, true) : record(check, false, { expected, got });
}

// ---------------------------------------------------------------------------
// connections and requests
// ---------------------------------------------------------------------------

const rawOf = new WeakMap(); // parsed frame object -> raw frame text
let URL_ARG = null;

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// record raw inbound/outbound frames of a Primus instance
function tap(c, primus) {
  const dec = primus.decoder;
  primus.decoder = function (raw, fn) {
    return dec.call(this, raw, function (err, data) {
      if (typeof raw === "string") {
        c.frames.push(`<< ${raw}`);
        if (VERBOSE) process.stderr.write(`${c.name} << ${raw}\n`);
        if (!err && data !== null && typeof data === "object") rawOf.set(data, raw);
      }
      fn(err, data);
    });
  };
  const enc = primus.encoder;
  primus.encoder = function (data, fn) {
    return enc.call(this, data, function (err, packet) {
      c.frames.push(`>> ${packet}`);
      if (VERBOSE) process.stderr.write(`${c.name} >> ${packet}\n`);
      fn(err, packet);
    });
  };
}

// Open a connection with the AH client's own connect() (browser path).
async function connect(name, opts = {}) {
  const AHClient = makeAHClientClass(URL_ARG, opts.cookie);
  const ah = new AHClient();
  const c = { name, ah, frames: [], welcomes: [], says: [], messages: [] };
  current.conns.push(c);
  ah.on("welcome", (m) => c.welcomes.push(m));
  ah.on("say", (m) => c.says.push(m));
  ah.on("message", (m) => c.messages.push(m));
  ah.on("error", (e) => c.frames.push(`!! error ${e && e.message}`));
  const details = await withTimeout(
    new Promise((resolve) => {
      ah.connect((err, d) => resolve(d));
      tap(c, ah.client); // the Primus instance exists now; its socket opens on a 0 ms timer
    }),
    REQUEST_TIMEOUT_MS,
    `${name}: connect (open + detailsView)`,
  );
  c.details = details;
  return c;
}

// call an AH client method with a trailing callback; resolves with [response, messageIdUsed]
function call(c, method, ...args) {
  let id;
  const p = new Promise((resolve) => {
    c.ah[method](...args, (resp) => resolve(resp));
    id = c.ah.messageId;
  });
  return { id, done: withTimeout(p, REQUEST_TIMEOUT_MS, `${c.name}: ${method}(${JSON.stringify(args)})`) };
}
async function req(c, method, ...args) {
  const { id, done } = call(c, method, ...args);
  const resp = await done;
  return [resp, id];
}

function detailsData(c, overrides) {
  return Object.assign(
    {
      id: c.ah.id,
      fingerprint: c.ah.fingerprint,
      remoteIP: EXPECT_REMOTE_IP,
      remotePort: 0,
      params: {},
      connectedAt: 0,
      rooms: [],
      totalActions: 0,
      pendingActions: 0,
    },
    overrides || {},
  );
}
const DETAILS_VOLATILE = {
  "/data/id": isUuid4,
  "/data/fingerprint": (v) => typeof v === "string" && v.length > 0,
  "/data/remotePort": isPort,
  "/data/connectedAt": isMs,
};

function errVerb(text, id, data = {}) {
  return { status: text, error: text, context: "response", data, messageId: id };
}

// ---------------------------------------------------------------------------
// scenarios
// ---------------------------------------------------------------------------

const scenarios = {};

scenarios.welcome = async () => {
  const a = await connect("A");
  expectFrame("welcome frame", a.welcomes[0], { welcome: WELCOME, context: "api" });
  expectEq("one welcome", a.welcomes.length, 1);
  expectEq("client welcomeMessage", a.ah.welcomeMessage, WELCOME);
  expectFrame(
    "connect detailsView (key order, fresh counters)",
    a.details,
    { status: "OK", context: "response", data: detailsData(a), messageId: 1 },
    DETAILS_VOLATILE,
  );
  const d = a.details.data;
  expectEq("detailsView data keys", Object.keys(d), [
    "id", "fingerprint", "remoteIP", "remotePort", "params", "connectedAt", "rooms", "totalActions", "pendingActions",
  ]);
  expectTrue("id is uuid v4", isUuid4(d.id), "uuid v4", d.id);
  expectEq("fingerprint == id without sessionID", d.fingerprint, d.id);
  expectTrue("connectedAt within 10 s of now", Math.abs(d.connectedAt - Date.now()) < 10000, "~now", d.connectedAt);
  expectEq("client state", a.ah.state, "connected");
  expectEq("client id/rooms from detailsView", [a.ah.id, a.ah.rooms], [d.id, []]);

  const [d2, id2] = await req(a, "detailsView");
  expectFrame("second detailsView identical", d2, { status: "OK", context: "response", data: d, messageId: id2 }, {
    "/data/connectedAt": isMs,
    "/data/remotePort": isPort,
  });
  expectEq("second detailsView stable fields", [d2.data.connectedAt, d2.data.remotePort], [d.connectedAt, d.remotePort]);

  await req(a, "action", "randomNumber");
  await req(a, "action", "noSuchAction");
  const [d3, id3] = await req(a, "detailsView");
  expectFrame(
    "detailsView after 2 actions",
    d3,
    { status: "OK", context: "response", data: detailsData(a, { totalActions: 2 }), messageId: id3 },
    DETAILS_VOLATILE,
  );

  const b = await connect("B");
  expectTrue("second connection gets another id", isUuid4(b.ah.id) && b.ah.id !== a.ah.id, "new uuid", b.ah.id);
  expectFrame("B welcome", b.welcomes[0], { welcome: WELCOME, context: "api" });
};

scenarios.actions = async () => {
  const a = await connect("A");
  let r, id;

  [r, id] = await req(a, "action", "randomNumber");
  expectFrame(
    "randomNumber",
    r,
    { randomNumber: 0, stringRandomNumber: "", context: "response", messageId: id },
    {
      "/randomNumber": (v) => typeof v === "number" && v >= 0 && v < 1,
      "/stringRandomNumber": (v) => v === `Your random number is ${r.randomNumber}`,
    },
  );

  [r, id] = await req(a, "action", "randomNumber", { apiVersion: 1 });
  expectFrame("randomNumber apiVersion 1", r, { randomNumber: 0, stringRandomNumber: "", context: "response", messageId: id }, {
    "/randomNumber": (v) => typeof v === "number" && v >= 0 && v < 1,
    "/stringRandomNumber": (v) => v === `Your random number is ${r.randomNumber}`,
  });
  [r, id] = await req(a, "action", "randomNumber", { apiVersion: 99 });
  expectFrame("randomNumber apiVersion 99", r, { error: "unknown action or invalid apiVersion", context: "response", messageId: id });

  [r, id] = await req(a, "action", "cacheTest", { key: "testKey", value: "testValue" });
  expectFrame(
    "cacheTest key/value",
    r,
    {
      cacheTestResults: {
        saveResp: true,
        sizeResp: 1,
        loadResp: { key: "cacheTest_testKey", value: "testValue", createdAt: 0 },
        deleteResp: true,
      },
      context: "response",
      messageId: id,
    },
    { "/cacheTestResults/loadResp/createdAt": isMs },
  );

  [r, id] = await req(a, "action", "cacheTest", { value: "testValue" });
  expectFrame("cacheTest missing key", r, { error: "key is a required parameter for this action", context: "response", messageId: id });
  [r, id] = await req(a, "action", "cacheTest");
  expectFrame("cacheTest no params", r, { error: "key is a required parameter for this action", context: "response", messageId: id });
  [r, id] = await req(a, "action", "cacheTest", { key: "ab", value: "testValue" });
  expectFrame("cacheTest short key", r, { error: "inputs should be at least 3 letters long", context: "response", messageId: id });
  [r, id] = await req(a, "action", "cacheTest", { key: "testKey" });
  expectFrame("cacheTest missing value", r, { error: "value is a required parameter for this action", context: "response", messageId: id });

  [r, id] = await req(a, "action", "validationTest", { string: "hello", number: 5 });
  expectFrame("validationTest number 5", r, { error: "Param number is not a valid number!", context: "response", messageId: id });
  [r, id] = await req(a, "action", "validationTest", { string: "hello", number: 123 });
  expectFrame("validationTest number 123", r, { error: "Failed formatting number correctly!", context: "response", messageId: id });
  [r, id] = await req(a, "action", "validationTest", { number: 5 });
  expectFrame("validationTest missing string", r, { error: "string is a required parameter for this action", context: "response", messageId: id });
  [r, id] = await req(a, "action", "validationTest", { string: 5 });
  expectFrame("validationTest string not a string", r, {
    error: 'Input for parameter "string" failed validation!',
    context: "response",
    messageId: id,
  });
  [r, id] = await req(a, "action", "validationTest", { string: "hello" });
  expectFrame("validationTest success", r, { string: "hello", context: "response", messageId: id });

  [r, id] = await req(a, "action", "noSuchAction");
  expectFrame("unknown action", r, { error: "unknown action or invalid apiVersion", context: "response", messageId: id });

  [r, id] = await req(a, "action", "sleepTest", { sleepDuration: 100 });
  expectFrame(
    "sleepTest 100",
    r,
    { sleepStarted: 0, sleepEnded: 0, sleepDelta: 0, sleepDuration: 100, context: "response", messageId: id },
    { "/sleepStarted": isMs, "/sleepEnded": (v) => v === r.sleepStarted + r.sleepDelta, "/sleepDelta": (v) => isInt(v) && v >= 99 && v < 1000 },
  );
  [r, id] = await req(a, "action", "sleepTest", { sleepDuration: "50" });
  expectFrame(
    "sleepTest \"50\" (parseInt formatter)",
    r,
    { sleepStarted: 0, sleepEnded: 0, sleepDelta: 0, sleepDuration: 50, context: "response", messageId: id },
    { "/sleepStarted": isMs, "/sleepEnded": (v) => v === r.sleepStarted + r.sleepDelta, "/sleepDelta": (v) => isInt(v) && v >= 49 && v < 1000 },
  );

  [r, id] = await req(a, "action", "status");
  expectFrame(
    "status",
    r,
    {
      id: "",
      actionheroVersion: "29.3.5",
      name: "actionhero",
      description: "The reusable, scalable, and quick node.js API server for stateless and stateful applications",
      version: "29.3.5",
      uptime: 0,
      consumedMemoryMB: 0,
      resqueTotalQueueLength: 0,
      nodeStatus: "Node Healthy",
      problems: [],
      context: "response",
      messageId: id,
    },
    {
      "/id": (v) => typeof v === "string" && v.length > 0,
      "/uptime": (v) => isInt(v) && v >= 0,
      "/consumedMemoryMB": (v) => typeof v === "number" && v > 0 && Math.round(v * 100) / 100 === v,
    },
  );

  const room = `interopRoom${Date.now()}${Math.floor(Math.random() * 1000)}`;
  [r, id] = await req(a, "action", "createChatRoom", { name: room });
  expectFrame("createChatRoom new", r, { name: room, didCreate: true, context: "response", messageId: id });
  [r, id] = await req(a, "action", "createChatRoom", { name: room });
  expectFrame("createChatRoom existing", r, { name: room, didCreate: false, context: "response", messageId: id });
  [r, id] = await req(a, "action", "createChatRoom");
  expectFrame("createChatRoom missing name", r, { error: "name is a required parameter for this action", context: "response", messageId: id });
  [r, id] = await req(a, "roomAdd", room);
  expectFrame("roomAdd created room", r, { status: "OK", context: "response", data: true, messageId: id });
};

scenarios.concurrent = async () => {
  const a = await connect("A");
  const b = await connect("B");

  // five mixed actions at once on one connection: each answered to its own callback
  const order = [];
  const started = Date.now();
  const plan = [
    ["sleepTest", { sleepDuration: 300 }],
    ["sleepTest", { sleepDuration: 100 }],
    ["randomNumber", {}],
    ["sleepTest", { sleepDuration: 200 }],
    ["randomNumber", {}],
  ];
  const calls = plan.map(([action, params], i) => {
    const { id, done } = call(a, "action", action, { ...params });
    return { i, action, params, id, done: done.then((resp) => (order.push(i), resp)) };
  });
  expectEq("client messageIds are consecutive", calls.map((c) => c.id), calls.map((c, k) => calls[0].id + k));
  const resps = await Promise.all(calls.map((c) => c.done));
  for (const c of calls) {
    const r = resps[c.i];
    if (c.action === "sleepTest") {
      expectFrame(
        `concurrent #${c.i} sleepTest ${c.params.sleepDuration} answered with own id`,
        r,
        { sleepStarted: 0, sleepEnded: 0, sleepDelta: 0, sleepDuration: c.params.sleepDuration, context: "response", messageId: c.id },
        { "/sleepStarted": isMs, "/sleepEnded": isMs, "/sleepDelta": (v) => isInt(v) && v >= c.params.sleepDuration - 1 },
      );
    } else {
      expectFrame(
        `concurrent #${c.i} randomNumber answered with own id`,
        r,
        { randomNumber: 0, stringRandomNumber: "", context: "response", messageId: c.id },
        { "/randomNumber": (v) => typeof v === "number", "/stringRandomNumber": (v) => v === `Your random number is ${r.randomNumber}` },
      );
    }
  }
  // A server that runs actions on several threads (the blocking adapter's pool) may
  // finish the two instant ones in either order; Node and a single worker cannot.
  const instantOrder = INSTANT_ORDER_ANY ? [...order.slice(0, 2)].sort() : order.slice(0, 2);
  expectEq("completion order: randomNumbers, then sleeps by duration", [...instantOrder, ...order.slice(2)], [2, 4, 1, 3, 0]);
  const elapsed = Date.now() - started;
  expectTrue("actions ran in parallel (total < 600 ms)", elapsed < 600, "< 600 ms", elapsed);

  // limit is per connection: 5 + 5 on two connections all succeed
  const both = [];
  for (const c of [a, b]) for (let k = 0; k < 5; k++) both.push(call(c, "action", "sleepTest", { sleepDuration: 100 }).done);
  const bothR = await Promise.all(both);
  expectEq("5 + 5 concurrent on two connections: no error", bothR.filter((x) => x.error).length, 0);

  // simultaneousActions = 5: the 6th concurrent action is rejected at once
  const six = [];
  const arrival = [];
  for (let k = 0; k < 6; k++) {
    const { id, done } = call(a, "action", "sleepTest", { sleepDuration: 300 });
    six.push({ id, done: done.then((resp) => (arrival.push(id), resp)) });
  }
  const sixR = await Promise.all(six.map((s) => s.done));
  const errors = sixR.filter((x) => x.error);
  expectEq("6 concurrent sleepTest: exactly one error", errors.length, 1);
  expectFrame("6th is rejected", sixR[5], { error: "you have too many pending requests", context: "response", messageId: six[5].id });
  expectEq("rejection arrives first", arrival[0], six[5].id);
  for (let k = 0; k < 5; k++) {
    expectFrame(
      `six #${k} succeeds`,
      sixR[k],
      { sleepStarted: 0, sleepEnded: 0, sleepDelta: 0, sleepDuration: 300, context: "response", messageId: six[k].id },
      { "/sleepStarted": isMs, "/sleepEnded": isMs, "/sleepDelta": isInt },
    );
  }
  const [d, id] = await req(a, "detailsView");
  expectFrame(
    "detailsView counts rejected actions too",
    d,
    { status: "OK", context: "response", data: detailsData(a, { totalActions: 16 }), messageId: id },
    DETAILS_VOLATILE,
  );
};

scenarios.rooms = async () => {
  const a = await connect("A");
  let r, id;

  [r, id] = await req(a, "roomAdd", "defaultRoom");
  expectFrame("roomAdd defaultRoom", r, { status: "OK", context: "response", data: true, messageId: id });
  expectEq("client rooms after roomAdd", a.ah.rooms, ["defaultRoom"]);

  [r, id] = await req(a, "roomView", "defaultRoom");
  expectFrame(
    "roomView defaultRoom",
    r,
    { status: "OK", context: "response", data: { room: "defaultRoom", members: { [a.ah.id]: { id: a.ah.id, joinedAt: 0 } }, membersCount: 1 }, messageId: id },
    { [`/data/members/${a.ah.id}/joinedAt`]: isMs },
  );

  [r, id] = await req(a, "roomAdd", "defaultRoom");
  expectFrame("roomAdd again", r, errVerb("Error: connection already in this room (defaultRoom)", id));

  [r, id] = await req(a, "roomAdd", "noSuchRoom");
  expectFrame("roomAdd missing room", r, errVerb("Error: room does not exist", id));

  [r, id] = await req(a, "roomView", "otherRoom");
  expectFrame("roomView room not joined", r, errVerb("Error: connection not in this room (otherRoom)", id));

  [r, id] = await req(a, "roomView", "noSuchRoom");
  expectFrame("roomView missing room", r, errVerb("Error: connection not in this room (noSuchRoom)", id));

  // joining a 2nd room: the client's configure() re-sends roomAdd for defaultRoom (no callback)
  const before = a.messages.length;
  [r, id] = await req(a, "roomAdd", "otherRoom");
  expectFrame("roomAdd otherRoom", r, { status: "OK", context: "response", data: true, messageId: id });
  const t0 = Date.now();
  let extra;
  while (Date.now() - t0 < 1000) {
    extra = a.messages.slice(before).find((m) => m.status && m.status.includes("already in this room"));
    if (extra) break;
    await sleep(20);
  }
  expectFrame(
    "configure's extra roomAdd defaultRoom is answered with an error",
    extra,
    errVerb("Error: connection already in this room (defaultRoom)", extra ? extra.messageId : null),
  );
  expectEq("client rooms", a.ah.rooms, ["defaultRoom", "otherRoom"]);

  const b = await connect("B");
  [r, id] = await req(b, "roomAdd", "defaultRoom");
  expectFrame("B roomAdd defaultRoom", r, { status: "OK", context: "response", data: true, messageId: id });
  [r, id] = await req(a, "roomView", "defaultRoom");
  expectEq("roomView membersCount 2", r.data && r.data.membersCount, 2);
  expectEq("roomView members", Object.keys((r.data && r.data.members) || {}).sort(), [a.ah.id, b.ah.id].sort());
  expectEq("roomView member entry shape", Object.keys(((r.data || {}).members || {})[b.ah.id] || {}), ["id", "joinedAt"]);

  [r, id] = await req(a, "roomLeave", "defaultRoom");
  expectFrame("roomLeave defaultRoom", r, { status: "OK", context: "response", data: true, messageId: id });
  expectEq("client rooms after roomLeave", a.ah.rooms, ["otherRoom"]);
  [r, id] = await req(a, "roomLeave", "defaultRoom");
  expectFrame("roomLeave again", r, errVerb("Error: connection not in this room (defaultRoom)", id));
  [r, id] = await req(a, "roomLeave", "noSuchRoom");
  expectFrame("roomLeave missing room", r, errVerb("Error: connection not in this room (noSuchRoom)", id));

  [r, id] = await req(b, "roomView", "defaultRoom");
  expectEq("roomView after A left: only B", [r.data && r.data.membersCount, Object.keys((r.data && r.data.members) || {})], [1, [b.ah.id]]);

  [r, id] = await req(a, "roomLeave", "otherRoom");
  expectFrame("roomLeave otherRoom", r, { status: "OK", context: "response", data: true, messageId: id });
  [r, id] = await req(a, "detailsView");
  expectFrame("detailsView rooms []", r, { status: "OK", context: "response", data: detailsData(a), messageId: id }, DETAILS_VOLATILE);
};

scenarios.say = async () => {
  const a = await connect("A");
  const b = await connect("B");
  let r, id;
  [r] = await req(a, "roomAdd", "defaultRoom");
  expectEq("A joined", r.status, "OK");
  [r] = await req(b, "roomAdd", "defaultRoom");
  expectEq("B joined", r.status, "OK");

  async function waitSays(c, n) {
    const t0 = Date.now();
    while (c.says.length < n && Date.now() - t0 < 3000) await sleep(10);
    return c.says[n - 1];
  }
  const chat = (message, from) => ({ message, room: "defaultRoom", from, context: "user", sentAt: 0 });
  const chatVol = { "/sentAt": isMs };

  const sent = Date.now();
  [r, id] = await req(a, "say", "defaultRoom", "hello from A");
  expectFrame("A say response (no data key)", r, { status: "OK", context: "response", messageId: id });
  const a1 = await waitSays(a, 1);
  const b1 = await waitSays(b, 1);
  expectFrame("A receives own message", a1, chat("hello from A", a.ah.id), chatVol);
  expectFrame("B receives A's message", b1, chat("hello from A", a.ah.id), chatVol);
  expectEq("same sentAt for both", a1 && b1 && a1.sentAt === b1.sentAt, true);
  expectTrue("sentAt ~ now", a1 && Math.abs(a1.sentAt - sent) < 5000, "~now", a1 && a1.sentAt);

  [r, id] = await req(b, "say", "defaultRoom", "hello back from B");
  expectFrame("B say response", r, { status: "OK", context: "response", messageId: id });
  expectFrame("A receives B's message", await waitSays(a, 2), chat("hello back from B", b.ah.id), chatVol);
  expectFrame("B receives own message", await waitSays(b, 2), chat("hello back from B", b.ah.id), chatVol);

  [r, id] = await req(a, "say", "otherRoom", "hello other");
  expectFrame("say to a room not joined", r, errVerb("Error: connection not in this room (otherRoom)", id, { message: "hello other" }));
  [r, id] = await req(a, "say", "defaultRoom", undefined);
  expectFrame("say without message", r, errVerb("Error: both room and message are required", id));

  [r] = await req(b, "roomLeave", "defaultRoom");
  expectEq("B left", r.status, "OK");
  [r, id] = await req(a, "say", "defaultRoom", "after B left");
  expectEq("A say after B left", r.status, "OK");
  expectFrame("A still receives", await waitSays(a, 3), chat("after B left", a.ah.id), chatVol);
  await sleep(250);
  expectEq("B (left) receives nothing more", b.says.length, 2);
  expectEq("no other frames to A/B", [a.says.length, b.says.length], [3, 2]);
};

scenarios.file = async () => {
  const a = await connect("A");
  let r, id;
  [r, id] = await req(a, "file", "simple.html");
  expectFrame(
    "file simple.html",
    r,
    { content: SIMPLE_HTML, mime: "text/html", length: 101, lastModified: "", context: "response", messageId: id },
    { "/lastModified": isIsoDate },
  );
  for (const f of ["missing.html", "../../package.json", "/etc/hosts", "../simple.html", ""]) {
    [r, id] = await req(a, "file", f);
    expectFrame(`file ${JSON.stringify(f)} not found`, r, { ...NOT_FOUND, messageId: id });
  }
};

scenarios.fingerprint = async () => {
  const a = await connect("A", { cookie: "sessionID=abc123" });
  expectEq("urlWithSession", a.ah.urlWithSession(), `${URL_ARG}?sessionID=abc123`);
  const wsUrl = a.ah.client.socket && a.ah.client.socket.url;
  expectTrue(
    "upgrade URL carries sessionID and _primuscb",
    /^wss?:\/\/[^/]+\/primus\?sessionID=abc123&_primuscb=[0-9A-Za-z_-]+(\.[0-9A-Za-z_-]+)?$/.test(wsUrl || ""),
    "ws[s]://host:port/primus?sessionID=abc123&_primuscb=<yeast>",
    wsUrl,
  );
  expectFrame(
    "detailsView fingerprint from query",
    a.details,
    { status: "OK", context: "response", data: detailsData(a, { fingerprint: "abc123" }), messageId: 1 },
    { "/data/id": isUuid4, "/data/remotePort": isPort, "/data/connectedAt": isMs },
  );
  expectTrue("id differs from fingerprint", isUuid4(a.ah.id) && a.ah.id !== "abc123", "uuid", a.ah.id);
  expectEq("client fingerprint", a.ah.fingerprint, "abc123");

  // the same sessionID on a second connection: same fingerprint, different id
  const b = await connect("B", { cookie: "other=1; sessionID=abc123; x=y" });
  expectEq("B fingerprint (cookie among others)", b.details.data.fingerprint, "abc123");
  expectTrue("B id differs from A id", b.ah.id !== a.ah.id, "different ids", [a.ah.id, b.ah.id]);

  // client re-encodes the query (querystringify): a%20b+c -> a%20b%20c -> server decodes "a b c"
  const c = await connect("C", { cookie: "sessionID=a%20b+c" });
  expectEq("encoded sessionID decoded by server", c.details.data.fingerprint, "a b c");

  const d = await connect("D");
  expectEq("no cookie: fingerprint == id", d.details.data.fingerprint, d.ah.id);
};

scenarios.reconnect = async () => {
  const a = await connect("A");
  const firstId = a.ah.id;
  let r, id;
  [r, id] = await req(a, "roomAdd", "defaultRoom");
  expectFrame("roomAdd defaultRoom", r, { status: "OK", context: "response", data: true, messageId: id });

  const primus = a.ah.client;
  const events = [];
  let closed = false;
  const reopened = new Promise((resolve) => {
    primus.on("close", () => {
      closed = true;
      events.push("close");
    });
    primus.on("reconnect scheduled", (o) => events.push(`reconnect scheduled(${o && o.attempt})`));
    primus.on("reconnected", () => events.push("reconnected"));
    primus.on("open", () => {
      events.push("open");
      if (closed) resolve();
    });
  });
  out({ waiting: "restart" });
  const t0 = Date.now();
  await withTimeout(reopened, RECONNECT_WAIT_MS, "waiting for the server restart and the client's reconnect");
  expectTrue("client saw close, then reopened (reconnected + open)", events.includes("reconnected"), "reconnected event", events);
  expectEq("client state after reconnect", a.ah.state, "connected");
  tap(a, primus); // decoder/encoder are per instance and survive; re-tap is harmless

  [r, id] = await req(a, "action", "randomNumber");
  expectFrame(
    "action over the new connection",
    r,
    { randomNumber: 0, stringRandomNumber: "", context: "response", messageId: id },
    { "/randomNumber": (v) => typeof v === "number" && v >= 0 && v < 1, "/stringRandomNumber": (v) => v === `Your random number is ${r.randomNumber}` },
  );
  [r, id] = await req(a, "detailsView");
  expectTrue("new server-side connection (new id)", r && r.data && isUuid4(r.data.id) && r.data.id !== firstId, "uuid != " + firstId, r && r.data && r.data.id);
  out({ scenario: "reconnect", info: { reconnectMs: Date.now() - t0, events, serverRoomsAfterReconnect: r && r.data && r.data.rooms, clientRooms: a.ah.rooms } });
};

const ALL = ["welcome", "actions", "concurrent", "rooms", "say", "file", "fingerprint"];

// ---------------------------------------------------------------------------

async function runScenario(name) {
  current = { name, checks: 0, failed: 0, conns: [] };
  const t0 = Date.now();
  const limit = name === "reconnect" ? RECONNECT_WAIT_MS + SCENARIO_TIMEOUT_MS : SCENARIO_TIMEOUT_MS;
  let error = null;
  try {
    await withTimeout(scenarios[name](), limit, `scenario ${name}`);
  } catch (e) {
    error = e;
    record("scenario completed", false, { expected: "no exception", got: String((e && e.message) || e) });
  }
  for (const c of current.conns) {
    try {
      c.ah.disconnect();
    } catch (e) {
      /* ignore */
    }
  }
  const summary = { scenario: name, result: current.failed ? "fail" : "pass", checks: current.checks, failed: current.failed, ms: Date.now() - t0 };
  out(summary);
  return !error && current.failed === 0;
}

async function main() {
  const [scenario, url] = process.argv.slice(2);
  const names = scenario === "all" ? ALL : String(scenario).split(",");
  if (!url || !names.every((n) => scenarios[n])) {
    process.stderr.write(`usage: node js-client.js <${Object.keys(scenarios).join("|")}|all>[,…] <http[s]://127.0.0.1:PORT>\n`);
    process.exit(2);
  }
  URL_ARG = url.replace(/\/+$/, "");
  const t0 = Date.now();
  for (const n of names) await runScenario(n);
  out({ final: true, result: totals.failed ? "fail" : "pass", checks: totals.checks, failed: totals.failed, ms: Date.now() - t0 });
  process.exit(totals.failed ? 1 : 0);
}

process.on("unhandledRejection", (e) => {
  out({ final: true, result: "fail", error: `unhandled rejection: ${(e && e.stack) || e}` });
  process.exit(1);
});

main();
