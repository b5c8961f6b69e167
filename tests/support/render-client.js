#!/usr/bin/env node
"use strict";
// Renders the browser client library with REAL Actionhero 29.3.5 and Primus 8.0.9 code
// (interop/node_modules), for tests/client_library.rs.
//
// Usage: node tests/support/render-client.js '<json>'
//   json: { "server": {...}, "clientUrl": "...", "client": {...}, "what": "client"|"primus" }
//     server     Primus server options as Actionhero's `websocket.server` (pathname, pingInterval)
//     clientUrl  Actionhero's `websocket.clientUrl` (default "window.location.origin")
//     client     Actionhero's `websocket.client` (default { apiPath: "/api", cookieKey: "sessionID" })
//     what       "client": `renderClientJS()` (the ActionheroWebsocketClient.js file);
//                "primus": `primus.library()` (GET /primus/primus.js)
// Stdout: the rendered library, nothing else.
//
// It builds the Primus server as Actionhero's `WebSocketServer.start()` does
// (`new Primus(webserver.server, config.server)`) and calls Actionhero's own
// `renderClientJS`/`compileActionheroWebsocketClientJS` on a WebSocketServer whose config
// is the given one, without booting the rest of Actionhero.

const path = require("path");
const http = require("http");

const INTEROP = path.join(__dirname, "..", "..", "interop");
// Actionhero builds its config at module load: point it at the interop project.
process.env.NODE_ENV = "development";
process.env.PROJECT_ROOT = path.join(INTEROP, "actionhero-server");
process.env.ACTIONHERO_CONFIG = path.join(INTEROP, "actionhero-server", "config");
process.env.ACTIONHERO_TYPESCRIPT_MODE = "false";
delete process.env.ACTIONHERO_CONFIG_OVERRIDES;

const modules = path.join(INTEROP, "node_modules");
const Primus = require(path.join(modules, "primus"));
const { api } = require(path.join(modules, "actionhero", "dist", "index"));
const { WebSocketServer } = require(path.join(modules, "actionhero", "dist", "servers", "websocket"));

const spec = JSON.parse(process.argv[2] || "{}");
const primus = new Primus(http.createServer(), spec.server || {});
let out;
if (spec.what === "primus") {
  out = primus.library();
} else {
  const server = new WebSocketServer();
  server.config = {
    clientUrl: spec.clientUrl === undefined ? "window.location.origin" : spec.clientUrl,
    client: spec.client === undefined ? { apiPath: "/api", cookieKey: "sessionID" } : spec.client,
    server: spec.server || {},
  };
  server.server = primus;
  api.servers = { servers: { websocket: server } };
  out = server.renderClientJS();
}
primus.destroy({ close: false, reconnect: false, timeout: 0 });
process.stdout.write(out, () => process.exit(0));
