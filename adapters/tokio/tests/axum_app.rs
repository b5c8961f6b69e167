//! Embedding (feature `axum`): the `axum_app` example's own code, on 127.0.0.1:0, driven
//! by our client, plain HTTP and the real JS client (ActionheroWebsocketClient over
//! Primus in Node); the same service inside a bare hyper server; and the answers the
//! service owes when it cannot carry a route out.
#![cfg(feature = "axum")]

mod support;

#[path = "../examples/axum_app.rs"]
#[allow(dead_code)]
mod axum_app;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws::server::{ActionOutcome, ActionSpec, Input};
use actionhero_ws::RoomName;
use actionhero_ws_tokio::client::{self, ClientEvents};
use actionhero_ws_tokio::server::AdapterConfig;
use actionhero_ws_tokio::{ServerBuilder, ServerHandle};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tower_service::Service as _;

const WAIT: Duration = Duration::from_secs(5);

/// The example's server and application on 127.0.0.1:0; returns the handle and the
/// address.
async fn start_app() -> (ServerHandle, SocketAddr) {
    let public = support::interop_dir().join("actionhero-server/public");
    let server = axum_app::actionhero(Some(public)).expect("server");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axum_app::serve(listener, server.clone()));
    (server, addr)
}

/// One HTTP request over a fresh connection (blocking, on a blocking thread).
async fn http(addr: SocketAddr, request: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || support::raw_http(addr, &request))
        .await
        .expect("http")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

async fn wait_client(
    events: &mut ClientEvents,
    pred: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("client events");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("client event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_and_the_apps_routes_share_one_server() {
    let (server, addr) = start_app().await;

    // The application's own route, and the server's browser routes beside it.
    let (status, hello) = http(addr, get("/hello")).await;
    assert_eq!(status, 200, "{hello}");
    assert_eq!(support::http_body(&hello), "hello from axum");
    let (status, library) =
        http(addr, get("/public/javascript/ActionheroWebsocketClient.js")).await;
    assert_eq!(status, 200, "{library:.300}");
    assert!(library.contains("ActionheroWebsocketClient"));
    let (status, spec) = http(addr, get("/primus/spec")).await;
    assert_eq!(status, 200, "{spec}");
    assert!(
        support::http_body(&spec).contains("\"pathname\":\"/primus\""),
        "{spec}"
    );
    let (status, plain) = http(addr, get("/primus")).await;
    assert_eq!(status, 426, "{plain}");
    let (status, simple) = http(addr, get("/simple.html")).await;
    assert_eq!(status, 200, "{simple}");
    // An action over HTTP with a JSON body: the body reaches the core.
    let body = r#"{"key":"embedded","value":"value"}"#;
    let post = format!(
        "POST /api/cacheTest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, cached) = http(addr, post).await;
    assert_eq!(status, 200, "{cached}");
    let cached: Value = serde_json::from_str(support::http_body(&cached)).expect("json");
    assert_eq!(
        cached["cacheTestResults"]["loadResp"]["value"], "value",
        "{cached}"
    );
    assert_eq!(
        cached["requesterInformation"]["remoteIP"], "127.0.0.1",
        "{cached}"
    );

    // Our client through axum: a WebSocket connection of the same server.
    let config = ClientConfig {
        rooms: vec![RoomName::new("defaultRoom").expect("room")],
        ..ClientConfig::default()
    };
    let (client, mut events) = client::connect(format!("http://{addr}"), config).expect("client");
    wait_client(&mut events, |e| matches!(e, ClientEvent::Connected { .. })).await;
    let answer = client
        .action("randomNumber", serde_json::Map::new())
        .await
        .expect("randomNumber");
    assert!(answer["randomNumber"].is_f64(), "{answer}");
    let details = client.details_view().await.expect("detailsView");
    assert_eq!(details["data"]["remoteIP"], "127.0.0.1", "{details}");

    // The application's routes reach the connection through the handle.
    let (_, members) = http(addr, get("/members/defaultRoom")).await;
    let members: Value = serde_json::from_str(support::http_body(&members)).expect("json");
    assert_eq!(members, json!({"room": "defaultRoom", "members": 1}));
    let announce = "POST /announce/defaultRoom HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\
                    Connection: close\r\n\r\nfrom app";
    let (status, reached) = http(addr, announce.to_owned()).await;
    assert_eq!((status, support::http_body(&reached)), (200, "reached 1"));
    let said = wait_client(&mut events, |e| matches!(e, ClientEvent::Say { .. })).await;
    let ClientEvent::Say { from, message, .. } = said else {
        unreachable!()
    };
    assert_eq!((from.as_str(), message), ("0", json!("from app")));

    client.disconnect().await;
    server.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_through_axum() {
    if !support::node_available() {
        eprintln!("SKIPPED js_client_through_axum: `node` is not installed");
        return;
    }
    support::ensure_interop();
    let (server, addr) = start_app().await;
    let url = format!("http://{addr}");
    let (status, out) = tokio::task::spawn_blocking(move || {
        let (mut child, lines) = support::spawn_js_client("all", &url, &[]);
        let out = support::collect_lines(&lines, Duration::from_secs(120));
        (child.wait_timeout(Duration::from_secs(10)), out)
    })
    .await
    .expect("js-client");
    assert!(
        status.is_some_and(|s| s.success()),
        "js-client through axum: {status:?}\nfailed checks:\n{:#?}\nlast: {:?}",
        support::failed_checks(&out),
        out.last()
    );
    assert!(
        out.iter()
            .any(|l| l.contains("\"final\":true") && l.contains("\"pass\"")),
        "{out:#?}"
    );
    server.shutdown(false).await;
}

/// The service in a bare hyper HTTP/1.1 server (no axum): the client address comes from
/// a `SocketAddr` extension the application inserts.
#[tokio::test]
async fn the_service_in_a_bare_hyper_server() {
    use hyper_util::rt::TokioIo;

    let server = ServerBuilder::new()
        .room("defaultRoom")
        .start()
        .expect("server");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = server.http_service();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let service = service.clone();
            let per_request = hyper::service::service_fn(move |mut req| {
                req.extensions_mut().insert(peer);
                service.clone().call(req)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), per_request)
                    .with_upgrades(),
            );
        }
    });
    let (client, mut events) =
        client::connect(format!("ws://{addr}/primus"), ClientConfig::default()).expect("client");
    let connected = wait_client(&mut events, |e| matches!(e, ClientEvent::Connected { .. })).await;
    let ClientEvent::Connected { id, .. } = connected else {
        unreachable!()
    };
    let details = client.details_view().await.expect("detailsView");
    assert_eq!(details["data"]["id"], id.as_str());
    assert_eq!(details["data"]["remoteIP"], "127.0.0.1");
    client.room_add("defaultRoom").await.expect("roomAdd");
    assert_eq!(
        server.members("defaultRoom").await.expect("members").len(),
        1
    );
    client.disconnect().await;
    server.shutdown(false).await;
}

/// Calls the service directly with a request and body; the status and body text.
async fn call<B>(server: &ServerHandle, req: http::Request<B>) -> (u16, String)
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let response = server.http_service().call(req).await.expect("infallible");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("full")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn what_the_service_cannot_carry_out_is_answered_by_the_core() {
    let server = ServerBuilder::new()
        .adapter_config(AdapterConfig {
            handshake_timeout: Duration::from_millis(200),
            ..AdapterConfig::default()
        })
        .action(
            ActionSpec::new("echo").input("a", Input::required()),
            |ctx: actionhero_ws_tokio::ActionContext| async move {
                ActionOutcome::Ok(ctx.params.clone())
            },
        )
        .start()
        .expect("server");

    // A good body is read and the action runs.
    let req = http::Request::post("/api/echo")
        .header("content-type", "application/json")
        .header("content-length", "9")
        .body(Full::new(Bytes::from_static(b"{\"a\":\"b\"}")))
        .expect("request");
    let (status, text) = call(&server, req).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer["a"], "b", "{text}");

    // A body that never comes: 408 after the adapter's time limit.
    let never = StreamBody::new(futures_util::stream::pending::<
        Result<http_body::Frame<Bytes>, Infallible>,
    >());
    let req = http::Request::post("/api/echo")
        .header("content-type", "application/json")
        .header("content-length", "9")
        .body(never)
        .expect("request");
    let (status, text) = timeout(WAIT, call(&server, req)).await.expect("in time");
    assert_eq!((status, text.as_str()), (408, "Request Timeout"));

    // A body shorter than its Content-Length: 400.
    let req = http::Request::post("/api/echo")
        .header("content-type", "application/json")
        .header("content-length", "9")
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("request");
    assert_eq!(call(&server, req).await, (400, "Bad Request".to_owned()));

    // An accepted upgrade the embedding server cannot hand over: 500.
    let req = http::Request::get("/primus")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let (status, _) = call(&server, req).await;
    assert_eq!(status, 500);

    // A refused upgrade is the core's answer, as on a listener.
    let req = http::Request::get("/primus")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let (status, text) = call(&server, req).await;
    assert_eq!(
        (status, text.as_str()),
        (426, "Unsupported Sec-WebSocket-Version")
    );

    // Stopped: 503.
    server.shutdown(false).await;
    let req = http::Request::get("/api/echo")
        .body(Full::new(Bytes::new()))
        .expect("request");
    assert_eq!(
        call(&server, req).await,
        (503, "Service Unavailable".to_owned())
    );
}
