#!/usr/bin/env node
"use strict";
// Renders the vendored browser-client templates of vendor/js/ from the pinned npm
// packages (actionhero 29.3.5, primus 8.0.9). Called by scripts/vendor-js.sh, and by
// tests/client_library.rs to check that the committed templates have not drifted.
//
// Usage: node scripts/vendor-js.js <node_modules dir> <output dir>
//
// Writes into <output dir>:
//   primus.js                    `primus.library()` of a Primus server built the way
//                                Actionhero builds it (`new Primus(httpServer, config.server)`),
//                                with two placeholders:
//                                  %%PRIMUS_PATHNAME%%      the server's pathname (between the
//                                                           double quotes Primus writes around it)
//                                  %%PRIMUS_PING_TIMEOUT%%  the client's default pingTimeout
//                                                           (`45e3` in Primus's source)
//   ActionheroWebsocketClient.js actionhero/client/ActionheroWebsocketClient.js, verbatim
//                                (its own placeholder %%DEFAULTS%%; %%URL%% must not occur)
//   LICENSE-primus, LICENSE-actionhero   the packages' licence texts, verbatim
// Exit: 0 ok, 1 on any surprise (wrong versions, placeholders not found exactly once).

const fs = require("fs");
const path = require("path");
const http = require("http");

function fail(msg) {
  process.stderr.write(`vendor-js.js: ${msg}\n`);
  process.exit(1);
}

const [nodeModules, outDir] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!nodeModules || !outDir) fail("usage: vendor-js.js <node_modules dir> <output dir>");

const PINNED = { actionhero: "29.3.5", primus: "8.0.9" };
for (const [name, version] of Object.entries(PINNED)) {
  const pkg = JSON.parse(fs.readFileSync(path.join(nodeModules, name, "package.json"), "utf8"));
  if (pkg.version !== version) fail(`${name} is ${pkg.version}, expected ${version}`);
}
const Primus = require(path.join(nodeModules, "primus"));

function count(haystack, needle) {
  return haystack.split(needle).length - 1;
}

// Exactly how Actionhero 29.3.5 builds its Primus server (dist/servers/websocket.js
// `start()`: `new Primus(webserver.server, this.config.server)`, the stock
// `config.server` being `{}`), plus the two options the library depends on.
function library(serverOptions) {
  const primus = new Primus(http.createServer(), serverOptions);
  const source = primus.library();
  primus.destroy({ close: false, reconnect: false, timeout: 0 });
  return source;
}

const PATHNAME_SENTINEL = "/ahws_pathname_sentinel_5f0c1e";
const PING_SENTINEL = 987654321; // client pingTimeout 987654321 + 493827161 = 1481481482
const PING_TIMEOUT_SENTINEL = String(PING_SENTINEL + Math.round(PING_SENTINEL / 2));
const PATHNAME = "%%PRIMUS_PATHNAME%%";
const PING_TIMEOUT = "%%PRIMUS_PING_TIMEOUT%%";

const rendered = library({ pathname: PATHNAME_SENTINEL, pingInterval: PING_SENTINEL });
for (const placeholder of [PATHNAME, PING_TIMEOUT, "%%"]) {
  if (count(rendered, placeholder) !== 0) fail(`Primus's library already contains ${placeholder}`);
}
const pathnameSite = `"${PATHNAME_SENTINEL}"`;
const pingSite = `options.pingTimeout : ${PING_TIMEOUT_SENTINEL};`;
if (count(rendered, PATHNAME_SENTINEL) !== 1 || count(rendered, pathnameSite) !== 1) {
  fail(`the pathname occurs ${count(rendered, PATHNAME_SENTINEL)} times in the library, expected once`);
}
if (count(rendered, PING_TIMEOUT_SENTINEL) !== 1 || count(rendered, pingSite) !== 1) {
  fail(`the ping timeout occurs ${count(rendered, PING_TIMEOUT_SENTINEL)} times in the library, expected once`);
}
const primusTemplate = rendered
  .replace(pathnameSite, `"${PATHNAME}"`)
  .replace(pingSite, `options.pingTimeout : ${PING_TIMEOUT};`);

// Self-check: the template, filled in, is what real Primus renders for other settings
// (Primus's defaults, pings off, another pathname).
function fill(template, pathname, pingTimeout) {
  return template.split(PATHNAME).join(pathname).split(PING_TIMEOUT).join(pingTimeout);
}
const checks = [
  [{}, "/primus", "45000"],
  [{ pingInterval: false }, "/primus", "false"],
  [{ pathname: "/ws", pingInterval: 10000 }, "/ws", "15000"],
];
for (const [options, pathname, pingTimeout] of checks) {
  if (fill(primusTemplate, pathname, pingTimeout) !== library(options)) {
    fail(`the template does not reproduce primus.library() for ${JSON.stringify(options)}`);
  }
}

const clientSource = fs.readFileSync(
  path.join(nodeModules, "actionhero", "client", "ActionheroWebsocketClient.js"),
  "utf8",
);
if (count(clientSource, "%%DEFAULTS%%") !== 1) fail("%%DEFAULTS%% does not occur exactly once in the client");
if (count(clientSource, "%%URL%%") !== 0) fail("%%URL%% occurs in the client (the core does not fill it)");
if (count(clientSource, "%%") !== 2) fail("the client contains other %% sequences");

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "primus.js"), primusTemplate);
fs.writeFileSync(path.join(outDir, "ActionheroWebsocketClient.js"), clientSource);
fs.copyFileSync(path.join(nodeModules, "primus", "LICENSE"), path.join(outDir, "LICENSE-primus"));
fs.copyFileSync(path.join(nodeModules, "actionhero", "LICENSE.txt"), path.join(outDir, "LICENSE-actionhero"));
