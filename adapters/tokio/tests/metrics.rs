//! Operating the tokio server on loopback: `/metrics` scraped after a known exchange, and
//! a WebSocket protocol error answered with a 1002 close frame; both again over TLS and
//! through the embedded service (an axum app), which are counted like the others.

#[path = "support/raw_ws.rs"]
mod raw_ws;
mod support;

#[path = "support/ws.rs"]
mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use actionhero_ws::server::{CloseCause, DisconnectReason, Event, ServerConfig};
use actionhero_ws_tokio::server::{ServerBuilder, ServerHandle};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use ws::{raw_ws, RawWs};

const WAIT: Duration = Duration::from_secs(5);

/// A server with the sample actions and `defaultRoom`, no heartbeat (so the counts are
/// exact), its events, and a metrics listener.
async fn start() -> (ServerHandle, mpsc::Receiver<Event>, SocketAddr) {
    start_with(|builder| builder).await
}

/// [`start`], with `setup` applied to the builder (TLS, say).
async fn start_with(
    setup: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (ServerHandle, mpsc::Receiver<Event>, SocketAddr) {
    let (tx, rx) = mpsc::channel(1000);
    let builder = ServerBuilder::new()
        .listen("127.0.0.1:0")
        .config(ServerConfig {
            ping_interval: None,
            ..ServerConfig::default()
        })
        .room("defaultRoom")
        .events(tx);
    let server = actionhero_ws_tokio::samples::register(setup(builder))
        .serve()
        .await
        .expect("serve");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metrics = listener.local_addr().expect("addr");
    tokio::spawn(actionhero_ws_tokio::metrics::serve(
        server.clone(),
        listener,
    ));
    (server, rx, metrics)
}

async fn request(ws: &mut RawWs, value: Value) -> Value {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("send");
    next(ws).await
}

async fn next(ws: &mut RawWs) -> Value {
    loop {
        let msg = timeout(WAIT, ws.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

async fn wait_event(events: &mut mpsc::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("events open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

/// `GET path` on the metrics listener: status and whole response.
async fn scrape(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    tokio::task::spawn_blocking(move || support::raw_http(addr, &request))
        .await
        .expect("scrape")
}

fn assert_series(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[tokio::test]
async fn metrics_are_scraped_after_a_known_exchange() {
    let (server, mut events, metrics) = start().await;
    let addr = server.local_addr();
    let mut ws = raw_ws(addr).await;
    let _welcome = next(&mut ws).await;
    let r = request(
        &mut ws,
        json!({"event": "action", "params": {"action": "randomNumber"}, "messageId": 1}),
    )
    .await;
    assert!(r["randomNumber"].is_number(), "{r}");
    let r = request(
        &mut ws,
        json!({"event": "action", "params": {"action": "cacheTest"}, "messageId": 2}),
    )
    .await;
    assert!(r["error"].is_string(), "{r}");
    request(&mut ws, json!({"event": "roomAdd", "room": "defaultRoom"})).await;
    request(
        &mut ws,
        json!({"event": "say", "room": "defaultRoom", "message": "hi"}),
    )
    .await;
    let chat = next(&mut ws).await;
    assert_eq!(chat["message"], "hi");
    // A refused upgrade: a bad Sec-WebSocket-Key.
    let bad = "GET /primus HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n";
    let (status, _) = tokio::task::spawn_blocking(move || support::raw_http(addr, bad))
        .await
        .expect("raw");
    assert_eq!(status, 400);
    ws.close(None).await.expect("close");
    wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;

    let (status, text) = scrape(metrics, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert_series(
        support::http_body(&text),
        &[
            "ahws_connections_opened_total 1",
            "ahws_connections_open 0",
            r#"ahws_connections_closed_total{cause="remote_closed"} 1"#,
            r#"ahws_handshake_rejections_total{status="400"} 1"#,
            r#"ahws_http_requests_total{route="upgrade"} 1"#,
            "ahws_messages_received_total 4",
            // welcome, two action answers, roomAdd and say answers, the chat copy
            "ahws_messages_sent_total 6",
            r#"ahws_actions_total{action="randomNumber",outcome="ok"} 1"#,
            r#"ahws_actions_total{action="cacheTest",outcome="invalid_params"} 1"#,
            r#"ahws_action_duration_seconds_count{action="randomNumber"} 1"#,
            "ahws_chat_messages_total 1",
            "ahws_chat_deliveries_total 1",
            "ahws_outbound_queued_frames 0",
            "ahws_actions_running 0",
        ],
    );
    // The same text for an embedding application.
    let direct = server.metrics_text().await.expect("metrics");
    assert_series(&direct, &["ahws_connections_opened_total 1"]);
    let (status, _) = scrape(metrics, "/other").await;
    assert_eq!(status, 404);
    server.shutdown(true).await;
}

#[tokio::test]
async fn an_unmasked_client_frame_is_answered_with_close_1002() {
    let (server, mut events, metrics) = start().await;
    let addr = server.local_addr();
    let (close, ended) = tokio::task::spawn_blocking(move || {
        let mut peer = raw_ws::RawPeer::connect(addr);
        peer.send_unmasked_text(r#"{"event":"detailsView"}"#);
        let close = peer.read_close();
        (close, peer.ends())
    })
    .await
    .expect("raw peer");
    assert_eq!(close, Some((1002, "protocol error".to_owned())));
    assert!(
        ended,
        "the server ends the TCP stream after its close frame"
    );
    let e = wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected {
        reason: DisconnectReason::Socket(CloseCause::Protocol(text)),
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(text.contains("unmasked"), "{text}");
    let (_, text) = scrape(metrics, "/metrics").await;
    assert_series(
        &text,
        &[r#"ahws_connections_closed_total{cause="protocol_error"} 1"#],
    );
    server.shutdown(true).await;
}

/// A normal exchange (welcome, `randomNumber`, close) on a std stream already connected
/// to `addr`, then an unmasked frame on a second one: the close frame the server sent
/// and whether it ended the stream after it. Blocking: run it on a blocking thread.
#[cfg(all(feature = "rustls", feature = "axum"))]
fn exchange_then_violate<S: std::io::Read + std::io::Write>(
    addr: SocketAddr,
    mut connect: impl FnMut() -> S,
) -> (Option<(u16, String)>, bool) {
    use tokio_tungstenite::tungstenite::WebSocket;
    let (stream, leftover) = raw_ws::RawPeer::upgrade(connect(), addr).into_parts();
    let mut ws = WebSocket::from_partially_read(stream, leftover, Role::Client, None);
    let next = |ws: &mut WebSocket<S>| loop {
        if let Message::Text(t) = ws.read().expect("message") {
            return serde_json::from_str::<Value>(&t).expect("json");
        }
    };
    let welcome = next(&mut ws);
    assert!(welcome["welcome"].is_string(), "{welcome}");
    let action = json!({"event": "action", "params": {"action": "randomNumber"}, "messageId": 1});
    ws.send(Message::text(action.to_string())).expect("send");
    let r = next(&mut ws);
    assert!(r["randomNumber"].is_number(), "{r}");
    ws.close(None).expect("close");
    while ws.read().is_ok() {}

    let mut peer = raw_ws::RawPeer::upgrade(connect(), addr);
    peer.send_unmasked_text(r#"{"event":"detailsView"}"#);
    let close = peer.read_close();
    (close, peer.ends())
}

/// Connections over TLS and through the embedded service run the same connection code:
/// each is counted, its queue drains to zero, and an unmasked frame is answered with
/// close 1002.
#[cfg(all(feature = "rustls", feature = "axum"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_embedded_connections_are_counted_and_closed_with_1002() {
    use std::sync::Arc;

    use actionhero_ws_tokio::rustls;

    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let server_tls = actionhero_ws_tokio::tls::server_config(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("root");
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let (server, mut events, metrics) = start_with(|builder| builder.tls(server_tls)).await;

    // wss:// on the server's own listener.
    let addr = server.local_addr();
    let (close, ended) = tokio::task::spawn_blocking(move || {
        exchange_then_violate(addr, || {
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
            let conn = rustls::ClientConnection::new(client.clone(), name).expect("client");
            let sock = std::net::TcpStream::connect(addr).expect("connect");
            sock.set_read_timeout(Some(WAIT)).expect("timeout");
            rustls::StreamOwned::new(conn, sock)
        })
    })
    .await
    .expect("over TLS");
    assert_eq!(close, Some((1002, "protocol error".to_owned())));
    assert!(
        ended,
        "the server ends the TLS stream after its close frame"
    );

    // ws:// through the same server's service, inside an axum app.
    let app = axum::Router::new()
        .fallback_service(server.http_service())
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let app_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (close, ended) = tokio::task::spawn_blocking(move || {
        exchange_then_violate(app_addr, || {
            let sock = std::net::TcpStream::connect(app_addr).expect("connect");
            sock.set_read_timeout(Some(WAIT)).expect("timeout");
            sock
        })
    })
    .await
    .expect("embedded");
    assert_eq!(close, Some((1002, "protocol error".to_owned())));
    assert!(
        ended,
        "the server ends the upgraded stream after its close frame"
    );

    let mut causes = Vec::new();
    while causes.len() < 4 {
        if let Event::Disconnected { reason, .. } =
            wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await
        {
            causes.push(reason);
        }
    }
    let protocol = causes
        .iter()
        .filter(|r| matches!(r, DisconnectReason::Socket(CloseCause::Protocol(_))))
        .count();
    assert_eq!(protocol, 2, "{causes:?}");

    let (status, text) = scrape(metrics, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert_series(
        support::http_body(&text),
        &[
            "ahws_connections_opened_total 4",
            "ahws_connections_open 0",
            r#"ahws_connections_closed_total{cause="remote_closed"} 2"#,
            r#"ahws_connections_closed_total{cause="protocol_error"} 2"#,
            r#"ahws_http_requests_total{route="upgrade"} 4"#,
            r#"ahws_actions_total{action="randomNumber",outcome="ok"} 2"#,
            // two welcomes and an answer per path, all taken off the queues
            "ahws_messages_sent_total 6",
            "ahws_outbound_queued_frames 0",
        ],
    );
    server.shutdown(true).await;
}
