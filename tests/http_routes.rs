//! The HTTP side of the core, from raw request bytes: route decisions, static files,
//! the client library and actions over `/api`, checked against what a real
//! Actionhero 29.3.5 answers (tests/fixtures/http/README.md).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use actionhero_ws::handshake::{parse_request, HandshakeConfig, HandshakeLimits, Parsed};
use actionhero_ws::http::files::{FileKind, FileMeta, Lookup};
use actionhero_ws::http::{
    ApiRequest, FileAnswer, HttpResponse, RequestContext, Route, Router, StaticFile, WebConfig,
};
use actionhero_ws::samples;
use actionhero_ws::server::{ActionOutcome, Event, Output, Server, ServerConfig};
use bytes::Bytes;
use serde_json::Value;

const NOW_MS: u64 = 1_795_610_439_000;

fn router() -> Router {
    let web = WebConfig {
        public_dir: Some("/srv/public".into()),
        ..WebConfig::default()
    };
    Router::new(HandshakeConfig::default(), web, NOW_MS).unwrap()
}

fn ctx() -> RequestContext {
    RequestContext {
        peer: "127.0.0.1:50000".parse::<SocketAddr>().unwrap(),
        now_ms: NOW_MS,
        entropy: [9; 16],
    }
}

fn route(raw: &str) -> Route {
    let Ok(Parsed::Complete { request, .. }) =
        parse_request(raw.as_bytes(), &HandshakeLimits::default())
    else {
        panic!("bad request {raw:?}")
    };
    router().route(&request, &ctx())
}

fn respond(raw: &str) -> HttpResponse {
    match route(raw) {
        Route::Respond(r) => r,
        other => panic!("{raw:?}: {other:?}"),
    }
}

fn text(r: &HttpResponse) -> String {
    String::from_utf8(r.to_bytes()).unwrap()
}

/// Drives a static-file lookup over a fake file system of `(path, kind, len)`.
fn serve(sf: StaticFile, fs: &[(&str, FileKind, u64)]) -> HttpResponse {
    let mut found = None;
    let mut step = sf.lookup.clone();
    while let Some(l) = step.take() {
        let meta = fs
            .iter()
            .find(|(p, ..)| Path::new(p) == l.path())
            .map(|(p, kind, len)| FileMeta {
                canonical: p.into(),
                kind: *kind,
                len: *len,
                modified_ms: 1_704_164_645_678,
            });
        match l.on_meta(meta) {
            Lookup::Found(f) => found = Some(f),
            Lookup::Next(n) => step = Some(n),
            Lookup::NotFound => {}
        }
    }
    match sf.answer(found) {
        FileAnswer::Respond(r) => r,
        FileAnswer::Read(body) => {
            let len = body.file.len as usize;
            body.respond(Some(Bytes::from(vec![b'x'; len])))
        }
    }
}

#[test]
fn primus_routes() {
    let spec = respond("GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(spec.status, 200);
    assert_eq!(
        spec.body,
        r#"{"pingInterval":30000,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}"#
    );
    let js = respond("GET /primus/primus.js HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        js.get("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(js.body.len(), 101_598);
    assert_eq!(
        respond("GET /primus HTTP/1.1\r\nHost: x\r\n\r\n").status,
        426
    );
    let cors =
        respond("PATCH /primus/spec HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\n\r\n");
    assert_eq!(cors.status, 403);
    assert!(matches!(
        route("GET /primus?sessionID=abc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
        Route::Upgrade { handshake, .. } if handshake.fingerprint.as_deref() == Some("abc")
    ));
}

#[test]
fn the_client_library_is_served_from_memory() {
    let r =
        respond("GET /public/javascript/ActionheroWebsocketClient.js HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.get("content-type"), Some("application/javascript"));
    assert_eq!(&r.body, router().client_library());
    assert!(r
        .body
        .ends_with(b"})(typeof exports === 'undefined' ? window : exports);"));
    let etag = r.get("etag").unwrap().to_owned();
    let again = respond(&format!(
        "GET /public/javascript/ActionheroWebsocketClient.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    ));
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
}

#[test]
fn static_files_like_actionhero() {
    let fs = [
        ("/srv/public", FileKind::Dir, 0),
        ("/srv/public/index.html", FileKind::File, 101),
        ("/srv/public/simple.html", FileKind::File, 101),
        ("/srv/public/sub", FileKind::Dir, 0),
        ("/srv/public/sub/index.html", FileKind::File, 3),
        ("/srv/public/with space.txt", FileKind::File, 4),
    ];
    let get = |path: &str, extra: &str| match route(&format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nCookie: sessionID=abc\r\n{extra}\r\n"
    )) {
        Route::File(sf) => serve(sf, &fs),
        Route::Respond(r) => r,
        other => panic!("{other:?}"),
    };
    let r = get("/public/simple.html", "");
    let t = text(&r);
    assert!(t.starts_with(
        "HTTP/1.1 200 OK\r\ncache-control: max-age=60, must-revalidate, public\r\n\
         content-type: text/html\r\nstrict-transport-security: max-age=31536000; includeSubDomains\r\n\
         access-control-allow-headers: Content-Type\r\n\
         access-control-allow-methods: HEAD, GET, POST, PUT, PATCH, DELETE, OPTIONS, TRACE\r\n\
         access-control-allow-origin: *\r\nx-powered-by: actionhero\r\n\
         etag: W/\"65-18cc820db2e\"\r\nContent-Length: 101\r\nDate: "
    ), "{t}");
    for (path, len) in [
        ("/", 101),
        ("/public", 101),
        ("/public/", 101),
        ("/public/sub", 3),
        ("/public/sub/", 3),
        ("/simple.html", 101),
        ("/public/with%20space.txt", 4),
    ] {
        let r = get(path, "");
        assert_eq!((r.status.as_u16(), r.body.len()), (200, len), "{path}");
    }
    for path in [
        "/public/missing.html",
        "/public/../config/api.js",
        "/public/%2e%2e/x",
        "/public/..%2Fx",
        "/public/with+space.txt",
        "/nope",
    ] {
        let r = get(path, "");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, "that file is not found");
        assert_eq!(r.get("content-type"), Some("text/html"));
    }
    assert_eq!(
        get(
            "/public/simple.html",
            "If-None-Match: W/\"65-18cc820db2e\"\r\n"
        )
        .status,
        304
    );
    assert_eq!(
        get(
            "/public/simple.html",
            "If-None-Match: \"65-18cc820db2e\"\r\n"
        )
        .status,
        200
    );
    assert_eq!(
        get(
            "/public/simple.html",
            "If-None-Match: *\r\nCache-Control: no-cache\r\n"
        )
        .status,
        200
    );
    let ims = get(
        "/public/simple.html",
        "If-Modified-Since: Tue, 02 Jan 2024 03:04:05 GMT\r\n",
    );
    assert_eq!((ims.status.as_u16(), ims.get("etag")), (304, None));
    assert_eq!(
        get(
            "/public/simple.html",
            "If-Modified-Since: Tue, 02 Jan 2024 03:04:04 GMT\r\n"
        )
        .status,
        200
    );
    let head = match route("HEAD /public/simple.html HTTP/1.1\r\nHost: x\r\n\r\n") {
        Route::File(sf) => serve(sf, &fs),
        other => panic!("{other:?}"),
    };
    assert_eq!((head.content_length, head.body.len()), (Some(101), 0));
    assert!(head.get("set-cookie").unwrap().starts_with("sessionID="));
}

#[test]
fn options_and_keep_alive() {
    let r = respond("OPTIONS /api/randomNumber HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status.as_u16(), r.content_length), (200, Some(0)));
    assert!(r.keep_alive);
    assert!(text(&r).contains("Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"));
    let close = respond("OPTIONS /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(!close.keep_alive);
    assert!(!respond("OPTIONS /api HTTP/1.0\r\n\r\n").keep_alive);
}

#[allow(clippy::disallowed_methods)] // one real Instant is the virtual epoch
fn server() -> (Server, Instant) {
    let now = Instant::now(); // virtual epoch
    let mut s = Server::new(
        ServerConfig::default(),
        [3; 32],
        now,
        UNIX_EPOCH + Duration::from_millis(NOW_MS),
    )
    .unwrap();
    for spec in samples::specs() {
        s.register_action(spec);
    }
    (s, now)
}

fn api(raw: &str) -> ApiRequest {
    match route(raw) {
        Route::Action(a) => a,
        other => panic!("{raw:?}: {other:?}"),
    }
}

/// Runs one web request through the server, answering actions with `answer`.
fn run(
    raw: &str,
    body: &str,
    answer: impl Fn(&str) -> ActionOutcome,
) -> (u16, Value, HttpResponse) {
    let (mut s, now) = server();
    let req = api(raw);
    assert_eq!(req.body_len, body.len());
    let ticket = s.handle_api(req, body.as_bytes(), now);
    let mut done = None;
    while done.is_none() {
        match s.poll_output().expect("an answer") {
            Output::Event(Event::WebActionRequested {
                request, action, ..
            }) => {
                s.respond(request, answer(&action), now + Duration::from_millis(3))
                    .unwrap();
            }
            Output::Http(h) => {
                assert_eq!(h.request, ticket);
                done = Some(h.response);
            }
            other => panic!("{other:?}"),
        }
    }
    let r = done.unwrap();
    let json = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status.as_u16(), json, r)
}

fn random(_: &str) -> ActionOutcome {
    let mut m = serde_json::Map::new();
    m.insert("randomNumber".into(), 0.5.into());
    ActionOutcome::Ok(m)
}

#[test]
fn api_actions_answer_like_actionhero_routes() {
    let (status, body, r) = run(
        "GET /api/randomNumber HTTP/1.1\r\nHost: x\r\nCookie: sessionID=abc\r\n\r\n",
        "",
        random,
    );
    assert_eq!(status, 200);
    assert_eq!(body["randomNumber"], 0.5);
    assert_eq!(body["serverInformation"]["serverName"], "actionhero");
    assert_eq!(body["serverInformation"]["requestDuration"], 3);
    assert_eq!(body["serverInformation"]["currentTime"], NOW_MS + 3);
    let ri = &body["requesterInformation"];
    assert_eq!(ri["fingerprint"], "abc");
    assert_eq!(
        ri["id"],
        format!("abc-{}", ri["messageId"].as_str().unwrap())
    );
    assert_eq!(ri["remoteIP"], "127.0.0.1");
    assert_eq!(
        ri["receivedParams"],
        serde_json::json!({"action": "randomNumber"})
    );
    assert_eq!(
        r.get("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.get("set-cookie"), None);
    let t = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        t.starts_with(
            "{\n  \"randomNumber\": 0.5,\n  \"serverInformation\": {\n    \"serverName\""
        ),
        "{t}"
    );

    // The client's fallback: ?action= (Actionhero 29 answers 404; we route it).
    let (status, body, r) = run("POST /api?action=randomNumber HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", "{}", random);
    assert_eq!((status, body["randomNumber"].clone()), (200, 0.5.into()));
    assert!(r.get("set-cookie").unwrap().starts_with("sessionID="));

    let (status, body, _) = run(
        "GET /api/validationTest HTTP/1.1\r\nHost: x\r\n\r\n",
        "",
        random,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("string is a required parameter for this action"))
    );
    let (status, body, _) = run("GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n", "", random);
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown action or invalid apiVersion"))
    );
    let (status, body, _) = run(
        "GET /api/cacheTest?key=ab&value=x HTTP/1.1\r\nHost: x\r\n\r\n",
        "",
        random,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("inputs should be at least 3 letters long"))
    );
    assert_eq!(
        body["requesterInformation"]["receivedParams"],
        serde_json::json!({"key": "ab", "value": "x", "action": "cacheTest"})
    );
    let (status, body, _) = run(
        "GET /api/randomNumber HTTP/1.1\r\nHost: x\r\n\r\n",
        "",
        |_| ActionOutcome::error("boom"),
    );
    assert_eq!((status, body["error"].as_str()), (500, Some("boom")));
    let (_, _, r) = run(
        "GET /api/randomNumber?callback=cb(1) HTTP/1.1\r\nHost: x\r\n\r\n",
        "",
        random,
    );
    assert_eq!(r.get("content-type"), Some("application/javascript"));
    assert!(r.body.starts_with(b"cb1({\n"));
    assert!(r.body.ends_with(b"});"));
}

#[test]
fn oversized_and_chunked_bodies_are_refused_before_reading() {
    let r =
        respond("POST /api/randomNumber HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
    assert_eq!(r.status, 413);
    assert!(!r.keep_alive);
    assert_eq!(
        respond("POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").status,
        411
    );
    assert_eq!(
        respond("POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n").status,
        400
    );
}

#[test]
fn the_router_counts_its_decisions_and_refused_upgrades_by_status() {
    let router = router();
    let upgrade = |path: &str, version: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    let requests = [
        upgrade("/primus", "13"),
        upgrade("/primus", "8"),
        upgrade("/elsewhere", "13"),
        "GET /primus HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
            .to_owned(),
        "GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        "GET /public/index.html HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        "GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
    ];
    for raw in &requests {
        let Ok(Parsed::Complete { request, .. }) =
            parse_request(raw.as_bytes(), &HandshakeLimits::default())
        else {
            panic!("bad request {raw:?}")
        };
        let _ = router.route(&request, &ctx());
    }
    let stats = router.stats();
    assert_eq!(stats.upgrades, 1);
    assert_eq!(
        stats.upgrade_rejections.into_iter().collect::<Vec<_>>(),
        [(400, 1), (403, 0), (404, 1), (426, 1)]
    );
    // Three refused upgrades and the spec.
    assert_eq!(stats.responses, 4);
    assert_eq!(stats.files, 1);
    assert_eq!(stats.actions, 1);
}
