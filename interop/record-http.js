#!/usr/bin/env node
"use strict";
// Records what a REAL Actionhero 29.3.5 web server (plus Primus 8.0.9 on /primus) answers on plain HTTP,
// byte for byte, over raw TCP (node `net`: no HTTP client library, so header case and order are kept).
//
// Usage:
//   REDIS=$(interop/start-redis.sh)
//   REDIS_HOST=${REDIS%:*} REDIS_PORT=${REDIS##*:} node interop/record-http.js [--out DIR] [--only NAME,...]
//
// What it does:
//   1. builds a scratch public dir in $TMPDIR (index.html, simple.html, style.css, pixel.png, sub/index.html,
//      "with space.txt", noext) and sets every file's mtime to 2024-01-02T03:04:05.678Z, so the ETag
//      (W/"<size hex>-<mtime ms hex>") is the same on every run;
//   2. boots interop/actionhero-server/boot.js with PORT=0 AUTOMATIC_ROUTES=get,post CLIENT_JS=1 PUBLIC_DIR=<scratch>
//      (CLIENT_JS=1 writes <scratch>/javascript/ActionheroWebsocketClient.js at boot, stock behaviour);
//   3. for each case opens a TCP connection to 127.0.0.1:<port>, writes the request bytes exactly, and reads
//      until the server closes the socket or nothing arrived for IDLE_MS (300 ms); multi-step cases write the
//      next request after that idle pause on the same socket;
//   4. writes DIR/<case>.http (default DIR = tests/fixtures/http/actionhero) =
//        <request bytes exactly as sent>
//        "\n" + SEPARATOR + "\n"          (SEPARATOR below; split a fixture on its FIRST occurrence)
//        <response bytes exactly as received, all of them, for all steps>
//      and DIR/index.json: per case the description, whether the server closed the socket and after how many ms,
//      and for the two big bodies (primus.js, ActionheroWebsocketClient.js) their length and sha256 (those two
//      fixtures keep the status line and headers but only the first 256 body bytes; index.json says so);
//      cases marked `elided` (the 21 MB bodies) show the request headers and a one-line placeholder for the body;
//   5. compares /primus/primus.js with the Primus part of the rendered ActionheroWebsocketClient.js
//      (everything before the first "\r\n\r\n\r\n;;;\r\n"), and stores the rendered client's size and sha256;
//   6. stops the server (SIGTERM) and removes the scratch dir.
// Values that change per run are kept raw: Date, Set-Cookie fingerprints and expiry, requesterInformation.id /
// fingerprint / messageId, serverInformation.requestDuration / currentTime, random numbers, status uptime/memory,
// the Host port, the ETag/size of the client JS file (written at boot).
// The last case (`static-noext`, a file whose mime type is unknown) makes Actionhero throw; it runs last.

const net = require("net");
const fs = require("fs");
const os = require("os");
const path = require("path");
const crypto = require("crypto");
const { spawn } = require("child_process");

const HERE = __dirname;
const ROOT = path.join(HERE, "..");
const SEPARATOR = "=====8<===== response bytes follow =====8<=====";
const IDLE_MS = 300;
const FIXED_MTIME = new Date("2024-01-02T03:04:05.678Z");
const BIG_BODY_KEEP = 256;

const args = process.argv.slice(2);
function arg(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
}
const OUT = path.resolve(arg("--out", path.join(ROOT, "tests", "fixtures", "http", "actionhero")));
const ONLY = arg("--only", null);

// a 1x1 PNG (70 bytes)
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

function makePublicDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ah-public-"));
  const files = {
    "index.html": "<!DOCTYPE html>\n<html><head><title>index</title></head><body>root index</body></html>\n",
    "simple.html": fs.readFileSync(path.join(HERE, "actionhero-server", "public", "simple.html")),
    "style.css": "body { color: #123456; }\n",
    "pixel.png": PNG,
    "sub/index.html": "<p>sub index</p>\n",
    "with space.txt": "a file with a space in its name\n",
    noext: "no extension\n",
  };
  for (const [name, body] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, body);
    fs.utimesSync(p, FIXED_MTIME, FIXED_MTIME);
  }
  return dir;
}

function boot(publicDir) {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      PORT: "0",
      AUTOMATIC_ROUTES: "get,post",
      CLIENT_JS: "1",
      PUBLIC_DIR: publicDir,
      LOG_LEVEL: process.env.LOG_LEVEL || "crit",
    };
    const child = spawn(process.execPath, [path.join(HERE, "actionhero-server", "boot.js")], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/READY (\d+)/);
      if (m) resolve({ child, port: parseInt(m[1], 10), stderr: () => err });
    });
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => reject(new Error(`boot.js exited ${code}: ${err}`)));
  });
}

// ---- raw exchange ----
// steps: [{ send: Buffer|string, wait?: ms (max idle wait after this step, default IDLE_MS), pauseBefore?: ms }]
function exchange(port, steps) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks = [];
    const t0 = Date.now();
    let closedAt = null;
    let idleTimer = null;
    let stepIndex = 0;
    let finished = false;
    let idleWait = IDLE_MS;
    function finish() {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      sock.destroy();
      resolve({ response: Buffer.concat(chunks), closedByServer: closedAt !== null, closedAfterMs: closedAt });
    }
    function armIdle() {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(next, idleWait);
    }
    function next() {
      if (finished) return;
      if (stepIndex >= steps.length || closedAt !== null) return finish();
      const step = steps[stepIndex++];
      idleWait = step.wait || IDLE_MS;
      const data = Buffer.isBuffer(step.send) ? step.send : Buffer.from(step.send, "latin1");
      if (sock.writable) {
        sock.write(data);
        if (step.end) sock.end();
      }
      armIdle();
    }
    sock.on("connect", next);
    sock.on("data", (d) => {
      chunks.push(d);
      armIdle();
    });
    sock.on("end", () => {
      if (closedAt === null) closedAt = Date.now() - t0;
      setTimeout(finish, 50);
    });
    sock.on("error", () => {
      if (closedAt === null) closedAt = Date.now() - t0;
      setTimeout(finish, 50);
    });
    sock.on("close", () => {
      if (closedAt === null) closedAt = Date.now() - t0;
      setTimeout(finish, 50);
    });
  });
}

// ---- request builders ----
let HOST = "127.0.0.1";
function req(method, target, headers = [], body = null, version = "HTTP/1.1") {
  const lines = [`${method} ${target} ${version}`, `Host: ${HOST}`];
  let b = body;
  if (b !== null && !Buffer.isBuffer(b)) b = Buffer.from(b, "utf8");
  for (const h of headers) lines.push(h);
  if (b !== null && !headers.some((h) => /^(content-length|transfer-encoding):/i.test(h))) {
    lines.push(`Content-Length: ${b.length}`);
  }
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
  return b === null ? head : Buffer.concat([head, b]);
}
const ORIGIN = "Origin: http://example.com";
const JSON_CT = "Content-Type: application/json";

// cases: name, desc, steps (array) or build(ctx) -> steps; options: big (keep only BIG_BODY_KEEP body bytes), elided
function cases(ctx) {
  const E = ctx.etag; // etag of simple.html, learnt from the first response
  const LM = "Tue, 02 Jan 2024 03:04:05 GMT"; // FIXED_MTIME as an HTTP date (ms dropped)
  const one = (name, desc, request, opts = {}) => ({ name, desc, steps: [{ send: request, wait: opts.wait }], ...opts });
  const huge = Buffer.alloc(21 * 1024 * 1024, "a");
  return [
    // ---- 1. static files ----
    one("static-simple", "GET /public/simple.html", req("GET", "/public/simple.html")),
    one("static-root", "GET / (rootEndpointType file -> index.html)", req("GET", "/")),
    one("static-public-dir", "GET /public/ (index.html)", req("GET", "/public/")),
    one("static-public-noslash", "GET /public (index.html)", req("GET", "/public")),
    one("static-sub-slash", "GET /public/sub/", req("GET", "/public/sub/")),
    one("static-sub-noslash", "GET /public/sub (directory without slash: no redirect?)", req("GET", "/public/sub")),
    one("static-css", "GET /public/style.css", req("GET", "/public/style.css")),
    one("static-png", "GET /public/pixel.png", req("GET", "/public/pixel.png")),
    one("static-space-encoded", "GET /public/with%20space.txt", req("GET", "/public/with%20space.txt")),
    one("static-space-plus", "GET /public/with+space.txt (+ is not a space in paths)", req("GET", "/public/with+space.txt")),
    one("static-bad-percent", "GET /public/%E0%A4%A (malformed percent-encoding)", req("GET", "/public/%E0%A4%A")),
    one("static-dir-no-index", "GET /public/javascript/ (directory without index.html)", req("GET", "/public/javascript/")),
    one("static-missing", "GET /public/missing.html", req("GET", "/public/missing.html")),
    one("static-traversal-dotdot", "GET /public/../config/api.js (raw ..)", req("GET", "/public/../config/api.js")),
    one("static-traversal-encoded-dots", "GET /public/%2e%2e/x", req("GET", "/public/%2e%2e/x")),
    one("static-traversal-encoded-slash", "GET /public/..%2Fx", req("GET", "/public/..%2Fx")),
    one("static-traversal-sub-back", "GET /public/sub/../simple.html (stays inside)", req("GET", "/public/sub/../simple.html")),
    one("static-root-file", "GET /simple.html (root serves files too)", req("GET", "/simple.html")),
    one("static-head", "HEAD /public/simple.html", req("HEAD", "/public/simple.html")),
    one("static-query", "GET /public/simple.html?x=1", req("GET", "/public/simple.html?x=1")),
    one("static-post", "POST /public/simple.html with a small body", req("POST", "/public/simple.html", ["Content-Type: text/plain"], "hello")),
    one("static-delete", "DELETE /public/simple.html", req("DELETE", "/public/simple.html")),
    one("static-ims-equal", "If-Modified-Since = mtime (seconds) -> 304", req("GET", "/public/simple.html", [`If-Modified-Since: ${LM}`])),
    one("static-ims-older", "If-Modified-Since one second before mtime -> 200", req("GET", "/public/simple.html", ["If-Modified-Since: Tue, 02 Jan 2024 03:04:04 GMT"])),
    one("static-ims-garbage", "If-Modified-Since: garbage", req("GET", "/public/simple.html", ["If-Modified-Since: garbage"])),
    one("static-inm-match", "If-None-Match = ETag -> 304", req("GET", "/public/simple.html", [`If-None-Match: ${E}`])),
    one("static-inm-strong", "If-None-Match = ETag without W/ prefix", req("GET", "/public/simple.html", [`If-None-Match: ${E.replace(/^W\//, "")}`])),
    one("static-inm-list", "If-None-Match: \"x\", <ETag>", req("GET", "/public/simple.html", [`If-None-Match: "x", ${E}`])),
    one("static-inm-star", "If-None-Match: *", req("GET", "/public/simple.html", ["If-None-Match: *"])),
    one("static-inm-other", "If-None-Match: \"nope\"", req("GET", "/public/simple.html", ['If-None-Match: "nope"'])),
    one("static-inm-nocache", "If-None-Match = ETag + Cache-Control: no-cache -> 200", req("GET", "/public/simple.html", [`If-None-Match: ${E}`, "Cache-Control: no-cache"])),
    one("static-ims-and-inm", "If-Modified-Since older + If-None-Match = ETag", req("GET", "/public/simple.html", ["If-Modified-Since: Tue, 02 Jan 2024 03:04:04 GMT", `If-None-Match: ${E}`])),
    one("static-304-then-next", "304 then a second request on the same socket", null, {
      steps: [
        { send: req("GET", "/public/simple.html", [`If-None-Match: ${E}`]) },
        { send: req("GET", "/public/style.css") },
      ],
    }),
    one("static-range", "Range: bytes=0-9 (ignored?)", req("GET", "/public/simple.html", ["Range: bytes=0-9"])),
    one("static-accept-gzip", "Accept-Encoding: gzip (compress is off)", req("GET", "/public/simple.html", ["Accept-Encoding: gzip, deflate"])),
    one("static-origin", "GET file with Origin", req("GET", "/public/simple.html", [ORIGIN])),
    one("static-with-cookie", "GET file with Cookie: sessionID=abc (no Set-Cookie?)", req("GET", "/public/simple.html", ["Cookie: sessionID=abc"])),
    one("static-options", "OPTIONS /public/simple.html", req("OPTIONS", "/public/simple.html")),
    one("static-client-js", "GET /public/javascript/ActionheroWebsocketClient.js (body truncated in fixture)", req("GET", "/public/javascript/ActionheroWebsocketClient.js"), { big: true }),

    // ---- 2. /api ----
    one("api-query-action", "GET /api?action=randomNumber (v29: action param ignored)", req("GET", "/api?action=randomNumber")),
    one("api-query-action-post", "POST /api?action=randomNumber with JSON body", req("POST", "/api?action=randomNumber", [JSON_CT], '{"action":"randomNumber"}')),
    one("api-get-random", "GET /api/randomNumber", req("GET", "/api/randomNumber")),
    one("api-get-random-slash", "GET /api/randomNumber/", req("GET", "/api/randomNumber/")),
    one("api-get-random-case", "GET /api/RANDOMNUMBER (route match is case-insensitive)", req("GET", "/api/RANDOMNUMBER")),
    one("api-post-random", "POST /api/randomNumber {}", req("POST", "/api/randomNumber", [JSON_CT], "{}")),
    one("api-post-random-nobody", "POST /api/randomNumber without body and without Content-Type", req("POST", "/api/randomNumber", [], "")),
    one("api-put-random", "PUT /api/randomNumber (no PUT routes)", req("PUT", "/api/randomNumber", [JSON_CT], "{}")),
    one("api-head-random", "HEAD /api/randomNumber (no HEAD routes)", req("HEAD", "/api/randomNumber")),
    one("api-trace", "TRACE /api/randomNumber?a=1", req("TRACE", "/api/randomNumber?string=s&a=1")),
    one("api-validation-missing", "GET /api/validationTest (missing required param)", req("GET", "/api/validationTest")),
    one("api-validation-ok", "GET /api/validationTest?string=hello", req("GET", "/api/validationTest?string=hello")),
    one("api-validation-x", "GET /api/validationTest?string=x", req("GET", "/api/validationTest?string=x")),
    one("api-validation-number", "GET /api/validationTest?string=x&number=5 (validator throws)", req("GET", "/api/validationTest?string=x&number=5")),
    one("api-validation-number-123", "GET /api/validationTest?string=x&number=123 (formatter throws)", req("GET", "/api/validationTest?string=x&number=123")),
    one("api-validation-json-number", "POST /api/validationTest {\"string\":5} (validator returns false)", req("POST", "/api/validationTest", [JSON_CT], '{"string":5}')),
    one("api-validation-precedence", "POST /api/validationTest?string=fromQuery&extra=1 body {\"string\":\"fromBody\"}", req("POST", "/api/validationTest?string=fromQuery&extra=1", [JSON_CT], '{"string":"fromBody"}')),
    one("api-validation-form", "POST /api/validationTest form-urlencoded string=form%20value&x=1", req("POST", "/api/validationTest", ["Content-Type: application/x-www-form-urlencoded"], "string=form%20value&x=1")),
    one("api-validation-textplain", "POST /api/validationTest text/plain body (formidable: unknown content type)", req("POST", "/api/validationTest?string=q", ["Content-Type: text/plain"], "string=abc")),
    one("api-validation-multipart", "POST /api/validationTest multipart/form-data", req("POST", "/api/validationTest", ["Content-Type: multipart/form-data; boundary=XyZ"], '--XyZ\r\nContent-Disposition: form-data; name="string"\r\n\r\nmulti\r\n--XyZ--\r\n')),
    one("api-cache-short", "POST /api/cacheTest {\"key\":\"k\",\"value\":\"v\"} (too short)", req("POST", "/api/cacheTest", [JSON_CT], '{"key":"k","value":"v"}')),
    one("api-cache-ok", "POST /api/cacheTest {\"key\":\"key\",\"value\":\"value\"}", req("POST", "/api/cacheTest", [JSON_CT], '{"key":"key","value":"value"}')),
    one("api-cache-missing", "POST /api/cacheTest {\"key\":\"key\"} (missing value)", req("POST", "/api/cacheTest", [JSON_CT], '{"key":"key"}')),
    one("api-malformed-json", "POST /api/cacheTest with malformed JSON", req("POST", "/api/cacheTest?key=key&value=value", [JSON_CT], '{"key": ')),
    one("api-json-array", "POST /api/randomNumber with a JSON array body", req("POST", "/api/randomNumber", [JSON_CT], "[1,2,3]")),
    one("api-json-nested", "GET /api/validationTest?string=a&nested[x]=1&arr[]=1&arr[]=2 (qs)", req("GET", "/api/validationTest?string=abc&file=f&nested[x]=1&arr[]=1&arr[]=2")),
    one("api-status", "GET /api/status", req("GET", "/api/status")),
    one("api-unknown", "GET /api/nope", req("GET", "/api/nope")),
    one("api-sleep", "GET /api/sleepTest?sleepDuration=10", req("GET", "/api/sleepTest?sleepDuration=10")),
    one("api-bare", "GET /api", req("GET", "/api")),
    one("api-bare-slash", "GET /api/", req("GET", "/api/")),
    one("api-options", "OPTIONS /api/randomNumber (no preflight headers)", req("OPTIONS", "/api/randomNumber")),
    one("api-preflight", "OPTIONS /api/randomNumber preflight", req("OPTIONS", "/api/randomNumber", [ORIGIN, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"])),
    one("api-origin", "GET /api/randomNumber with Origin", req("GET", "/api/randomNumber", [ORIGIN])),
    one("api-jsonp", "GET /api/randomNumber?callback=foo", req("GET", "/api/randomNumber?callback=foo")),
    one("api-jsonp-escape", "GET /api/randomNumber?callback=<b>a(1)'\"& (escaping)", req("GET", "/api/randomNumber?callback=%3Cb%3Ea(1)'%22%26")),
    one("api-version-1", "GET /api/randomNumber?apiVersion=1", req("GET", "/api/randomNumber?apiVersion=1")),
    one("api-version-2", "GET /api/randomNumber?apiVersion=2", req("GET", "/api/randomNumber?apiVersion=2")),
    one("api-extension", "GET /api/randomNumber.json (no route)", req("GET", "/api/randomNumber.json")),
    one("api-accept-gzip", "GET /api/randomNumber with Accept-Encoding: gzip", req("GET", "/api/randomNumber", ["Accept-Encoding: gzip"])),
    one("api-chunked", "POST /api/cacheTest Transfer-Encoding: chunked JSON", req("POST", "/api/cacheTest", [JSON_CT, "Transfer-Encoding: chunked"], '7\r\n{"key":\r\n16\r\n"key","value":"value"}\r\n0\r\n\r\n')),
    one("api-huge-json", "POST /api/randomNumber with a 21 MiB JSON string body (body elided in fixture)", req("POST", "/api/randomNumber", [JSON_CT], Buffer.concat([Buffer.from('{"a":"'), huge, Buffer.from('"}')])), { elided: true, wait: 3000 }),
    one("api-huge-form", "POST /api/randomNumber with a 21 MiB form-urlencoded body (body elided in fixture)", req("POST", "/api/randomNumber", ["Content-Type: application/x-www-form-urlencoded"], Buffer.concat([Buffer.from("a="), huge])), { elided: true, wait: 3000 }),
    one("api-xff", "GET /api/randomNumber with X-Forwarded-For: 10.1.2.3", req("GET", "/api/randomNumber", ["X-Forwarded-For: 10.1.2.3"])),

    // ---- 3. fingerprint cookie ----
    one("cookie-none", "no cookie -> Set-Cookie", req("GET", "/api/randomNumber")),
    one("cookie-session", "Cookie: sessionID=abc", req("GET", "/api/randomNumber", ["Cookie: sessionID=abc"])),
    one("cookie-session-multi", "Cookie: a=1; sessionID=abc; b=2", req("GET", "/api/randomNumber", ["Cookie: a=1; sessionID=abc; b=2"])),
    one("cookie-session-empty", "Cookie: sessionID=", req("GET", "/api/randomNumber", ["Cookie: sessionID="])),
    one("cookie-x-sessionid", "x-sessionid: abc header", req("GET", "/api/randomNumber", ["x-sessionid: abc"])),
    one("cookie-sessionid-header", "sessionID: abc header (not used: node lowercases header names)", req("GET", "/api/randomNumber", ["sessionID: abc"])),
    one("cookie-other", "Cookie: other=abc", req("GET", "/api/randomNumber", ["Cookie: other=abc"])),
    one("cookie-404", "GET /api/nope without cookie", req("GET", "/api/nope")),
    one("cookie-static-404", "GET /public/missing.html without cookie", req("GET", "/public/missing.html")),

    // ---- 4/5. Primus ----
    one("primus-js", "GET /primus/primus.js (body truncated in fixture)", req("GET", "/primus/primus.js"), { big: true }),
    one("primus-js-head", "HEAD /primus/primus.js", req("HEAD", "/primus/primus.js")),
    one("primus-js-origin", "GET /primus/primus.js with Origin (body truncated)", req("GET", "/primus/primus.js", [ORIGIN]), { big: true }),
    one("primus-bare", "GET /primus", req("GET", "/primus")),
    one("primus-bare-slash", "GET /primus/", req("GET", "/primus/")),
    one("primus-other", "GET /primus/other", req("GET", "/primus/other")),
    one("primus-prefix", "GET /primusx (prefix match)", req("GET", "/primusx")),
    one("primus-spec", "GET /primus/spec", req("GET", "/primus/spec")),
    one("primus-spec-origin", "GET /primus/spec with Origin", req("GET", "/primus/spec", [ORIGIN])),
    one("primus-spec-preflight", "OPTIONS /primus/spec preflight", req("OPTIONS", "/primus/spec", [ORIGIN, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"])),
    one("primus-spec-options-noacrm", "OPTIONS /primus/spec with Origin, no Access-Control-Request-Method", req("OPTIONS", "/primus/spec", [ORIGIN])),
    one("primus-spec-options-plain", "OPTIONS /primus/spec without Origin", req("OPTIONS", "/primus/spec")),
    one("primus-spec-patch-origin", "PATCH /primus/spec with Origin -> 403", req("PATCH", "/primus/spec", [ORIGIN])),
    one("primus-spec-patch", "PATCH /primus/spec without Origin", req("PATCH", "/primus/spec")),
    one("primus-spec-bad-origin", "GET /primus/spec with Origin: example.com (no scheme) -> 403", req("GET", "/primus/spec", ["Origin: example.com"])),
    one("primus-spec-null-origin", "GET /primus/spec with Origin: null", req("GET", "/primus/spec", ["Origin: null"])),
    one("primus-msie", "GET /primus with a MSIE user agent (X-XSS-Protection)", req("GET", "/primus", ["User-Agent: Mozilla/4.0 (compatible;msie 8.0)"])),

    // ---- 6. unknown paths / protocol ----
    one("path-nope", "GET /nope", req("GET", "/nope")),
    one("path-favicon", "GET /favicon.ico", req("GET", "/favicon.ico")),
    one("path-api-dotdot", "GET /api/../public/simple.html", req("GET", "/api/../public/simple.html")),
    one("proto-bad-request-line", "GARBAGE request line", Buffer.from("GARBAGE\r\n\r\n")),
    one("proto-no-host", "HTTP/1.1 request without Host", Buffer.from("GET /api/randomNumber HTTP/1.1\r\n\r\n")),
    one("proto-huge-header", "a 20 KB request header (node maxHeaderSize 16 KB)", req("GET", "/api/randomNumber", [`X-Big: ${"b".repeat(20000)}`])),
    one("proto-http10", "HTTP/1.0 GET /api/randomNumber", req("GET", "/api/randomNumber", [], null, "HTTP/1.0")),
    one("proto-http10-keepalive", "HTTP/1.0 with Connection: keep-alive", req("GET", "/api/randomNumber", ["Connection: keep-alive"], null, "HTTP/1.0")),
    one("proto-connection-close", "Connection: close", req("GET", "/api/randomNumber", ["Connection: close"])),
    one("proto-static-connection-close", "Connection: close on a file", req("GET", "/public/simple.html", ["Connection: close"])),
    one("proto-lowercase-method", "get /api/randomNumber (lowercase method)", Buffer.from(`get /api/randomNumber HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`)),
    one("proto-absolute-uri", "GET http://host/api/randomNumber (absolute-form)", req("GET", `http://${HOST}/api/randomNumber?x=1`)),

    // ---- 7. keep-alive ----
    one("keepalive-two", "two requests on one socket", null, {
      steps: [{ send: req("GET", "/api/randomNumber") }, { send: req("GET", "/public/simple.html") }],
    }),
    one("keepalive-pipelined", "two requests written at once", Buffer.concat([req("GET", "/api/randomNumber"), req("GET", "/public/style.css")])),
    one("keepalive-timeout", "one request, then wait 7 s to see the server close the idle socket", req("GET", "/api/randomNumber"), { wait: 7000 }),

    // ---- last: crashes the request handler ----
    one("static-noext", "GET /public/noext (mime type null)", req("GET", "/public/noext"), { wait: 1500 }),
  ];
}

function splitHead(buf) {
  const i = buf.indexOf("\r\n\r\n");
  return i < 0 ? [buf, Buffer.alloc(0)] : [buf.subarray(0, i + 4), buf.subarray(i + 4)];
}

async function main() {
  const publicDir = makePublicDir();
  const server = await boot(publicDir);
  HOST = `127.0.0.1:${server.port}`;
  fs.mkdirSync(OUT, { recursive: true });
  const index = {
    recordedWith: "interop/record-http.js",
    actionhero: require(path.join(HERE, "node_modules", "actionhero", "package.json")).version,
    primus: require(path.join(HERE, "node_modules", "primus", "package.json")).version,
    node: process.version,
    separator: SEPARATOR,
    fixedMtime: FIXED_MTIME.toISOString(),
    cases: [],
  };
  try {
    // learn the ETag of simple.html first
    const probe = await exchange(server.port, [{ send: req("GET", "/public/simple.html") }]);
    const m = probe.response.toString("latin1").match(/\r\netag: ([^\r]+)/i);
    const ctx = { etag: m ? m[1] : 'W/"?"' };
    let list = cases(ctx);
    if (ONLY) {
      const want = ONLY.split(",");
      list = list.filter((c) => want.includes(c.name));
    }
    for (const c of list) {
      const steps = c.steps.map((s) => ({ ...s, wait: s.wait || c.wait }));
      const r = await exchange(server.port, steps);
      let requestBytes = Buffer.concat(steps.map((s) => (Buffer.isBuffer(s.send) ? s.send : Buffer.from(s.send, "latin1"))));
      const entry = {
        name: c.name,
        desc: c.desc,
        closedByServer: r.closedByServer,
        closedAfterMs: r.closedAfterMs,
        responseLength: r.response.length,
      };
      if (c.elided) {
        const [head, body] = splitHead(requestBytes);
        entry.requestBodyElided = { length: body.length, sha256: crypto.createHash("sha256").update(body).digest("hex") };
        requestBytes = Buffer.concat([head, Buffer.from(`<<${body.length} request body bytes elided, first 16: ${JSON.stringify(body.subarray(0, 16).toString("latin1"))}>>`)]);
      }
      let responseBytes = r.response;
      if (c.big) {
        const [head, body] = splitHead(r.response);
        entry.bodyTruncated = { keptBytes: Math.min(BIG_BODY_KEEP, body.length), bodyLength: body.length, sha256: crypto.createHash("sha256").update(body).digest("hex") };
        responseBytes = Buffer.concat([head, body.subarray(0, BIG_BODY_KEEP)]);
        c.fullBody = body;
      }
      fs.writeFileSync(path.join(OUT, `${c.name}.http`), Buffer.concat([requestBytes, Buffer.from(`\n${SEPARATOR}\n`), responseBytes]));
      index.cases.push(entry);
      process.stderr.write(`${c.name}: ${r.response.subarray(0, r.response.indexOf("\r\n")).toString("latin1")} (${r.response.length} bytes${r.closedByServer ? `, closed after ${r.closedAfterMs} ms` : ""})\n`);
      c.entry = entry;
    }
    // client library comparison
    const clientPath = path.join(publicDir, "javascript", "ActionheroWebsocketClient.js");
    if (fs.existsSync(clientPath)) {
      const client = fs.readFileSync(clientPath);
      const joinAt = client.indexOf("\r\n\r\n\r\n;;;\r\n");
      const primusPart = client.subarray(0, joinAt);
      index.clientJs = {
        size: client.length,
        sha256: crypto.createHash("sha256").update(client).digest("hex"),
        primusPartLength: primusPart.length,
        primusPartSha256: crypto.createHash("sha256").update(primusPart).digest("hex"),
      };
      const pj = list.find((c) => c.name === "primus-js" && c.fullBody);
      if (pj) index.clientJs.primusJsEqualsPrimusPart = Buffer.compare(pj.fullBody, primusPart) === 0;
      const cj = list.find((c) => c.name === "static-client-js" && c.fullBody);
      if (cj) index.clientJs.servedEqualsFile = Buffer.compare(cj.fullBody, client) === 0;
      if (client.length <= 300 * 1024) fs.copyFileSync(clientPath, path.join(OUT, "ActionheroWebsocketClient.js"));
    }
    index.serverStderrTail = server.stderr().split("\n").slice(-20).join("\n");
    if (!ONLY) fs.writeFileSync(path.join(OUT, "index.json"), JSON.stringify(index, null, 2) + "\n");
    else process.stderr.write(JSON.stringify(index, null, 2) + "\n");
  } finally {
    server.child.removeAllListeners("exit");
    server.child.kill("SIGTERM");
    await new Promise((r) => {
      const t = setTimeout(() => {
        server.child.kill("SIGKILL");
        r();
      }, 8000);
      server.child.on("exit", () => {
        clearTimeout(t);
        r();
      });
      if (server.child.exitCode !== null) r();
    });
    fs.rmSync(publicDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`record-http.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
