//! Operating the blocking server on loopback: `/metrics` scraped after a known exchange,
//! and a WebSocket protocol error answered with a 1002 close frame; both again over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tokio/tests/support/raw_ws.rs"]
mod raw_ws;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use actionhero_ws::server::{CloseCause, DisconnectReason, Event};
use actionhero_ws_blocking::samples;
use actionhero_ws_blocking::server::{self, ServerBuilder, ServerHandle};
use serde_json::{json, Value};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

const WAIT: Duration = Duration::from_secs(5);

/// A server with the sample actions and `defaultRoom`, no heartbeat (so the counts are
/// exact), its events, and a metrics listener.
fn start() -> (ServerHandle, Receiver<Event>, SocketAddr) {
    start_with(|builder| builder)
}

/// [`start`], with `setup` applied to the builder (TLS, say).
fn start_with(
    setup: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (ServerHandle, Receiver<Event>, SocketAddr) {
    let mut config = server::Config {
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(200),
        shutdown_drain: Duration::from_millis(200),
        ..server::Config::default()
    };
    config.core.ping_interval = None;
    let mut builder = setup(samples::register(ServerBuilder::new(config)).room("defaultRoom"));
    let events = builder.events(1000);
    let server = builder.bind("127.0.0.1:0").expect("bind");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind metrics");
    let metrics = listener.local_addr().expect("addr");
    actionhero_ws_blocking::metrics::serve(server.clone(), listener).expect("metrics");
    (server, events, metrics)
}

type Ws = WebSocket<TcpStream>;

fn connect(addr: SocketAddr) -> Ws {
    let (stream, leftover) = raw_ws::RawPeer::connect(addr).into_parts();
    WebSocket::from_partially_read(stream, leftover, Role::Client, None)
}

fn next<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>) -> Value {
    loop {
        if let Message::Text(t) = ws.read().expect("message") {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

fn request<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>, value: Value) -> Value {
    ws.send(Message::text(value.to_string())).expect("send");
    next(ws)
}

fn wait_event(events: &Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = events.recv_timeout(WAIT).expect("event in time");
        if pred(&e) {
            return e;
        }
    }
}

fn assert_series(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "missing {line:?} in:\n{text}"
        );
    }
}

fn scrape(addr: SocketAddr, path: &str) -> (u16, String) {
    support::raw_http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

fn stop(server: &ServerHandle) {
    server.shutdown(false);
    assert!(server.join_timeout(WAIT), "server did not stop");
}

#[test]
fn metrics_are_scraped_after_a_known_exchange() {
    let (server, events, metrics) = start();
    let addr = server.local_addr();
    let mut ws = connect(addr);
    let _welcome = next(&mut ws);
    let r = request(
        &mut ws,
        json!({"event": "action", "params": {"action": "randomNumber"}, "messageId": 1}),
    );
    assert!(r["randomNumber"].is_number(), "{r}");
    let r = request(
        &mut ws,
        json!({"event": "action", "params": {"action": "cacheTest"}, "messageId": 2}),
    );
    assert!(r["error"].is_string(), "{r}");
    request(&mut ws, json!({"event": "roomAdd", "room": "defaultRoom"}));
    request(
        &mut ws,
        json!({"event": "say", "room": "defaultRoom", "message": "hi"}),
    );
    assert_eq!(next(&mut ws)["message"], "hi");
    // A refused upgrade: a bad Sec-WebSocket-Key.
    let bad = "GET /primus HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n";
    assert_eq!(support::raw_http(addr, bad).0, 400);
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    wait_event(&events, |e| matches!(e, Event::Disconnected { .. }));

    let (status, text) = scrape(metrics, "/metrics");
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
    let direct = server.metrics_text().expect("metrics");
    assert_series(&direct, &["ahws_connections_opened_total 1"]);
    assert_eq!(scrape(metrics, "/other").0, 404);
    stop(&server);
}

#[test]
fn an_unmasked_client_frame_is_answered_with_close_1002() {
    let (server, events, metrics) = start();
    let mut peer = raw_ws::RawPeer::connect(server.local_addr());
    peer.send_unmasked_text(r#"{"event":"detailsView"}"#);
    assert_eq!(peer.read_close(), Some((1002, "protocol error".to_owned())));
    assert!(
        peer.ends(),
        "the server ends the TCP stream after its close frame"
    );
    let e = wait_event(&events, |e| matches!(e, Event::Disconnected { .. }));
    let Event::Disconnected {
        reason: DisconnectReason::Socket(CloseCause::Protocol(text)),
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(text.contains("unmasked"), "{text}");
    let (_, text) = scrape(metrics, "/metrics");
    assert_series(
        &text,
        &[r#"ahws_connections_closed_total{cause="protocol_error"} 1"#],
    );
    stop(&server);
}

/// A TLS session to `addr` that trusts a certificate generated for `127.0.0.1`, as a
/// std stream whose reads time out.
#[cfg(feature = "rustls")]
fn tls_stream(
    addr: SocketAddr,
    roots: &std::sync::Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(roots.clone(), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

#[cfg(feature = "rustls")]
use actionhero_ws_blocking::rustls;

/// Over TLS the same connection code runs: a connection is counted, its queue drains to
/// zero, and an unmasked frame is answered with close 1002 (then `close_notify`).
#[cfg(feature = "rustls")]
#[test]
fn tls_connections_are_counted_and_a_protocol_error_is_closed_with_1002() {
    use std::sync::Arc;

    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let server_tls = actionhero_ws_blocking::tls::server_config(
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
    let (server, events, metrics) = start_with(|builder| builder.tls(server_tls));
    let addr = server.local_addr();

    // A normal exchange over wss://.
    let (stream, leftover) = raw_ws::RawPeer::upgrade(tls_stream(addr, &client), addr).into_parts();
    let mut ws = WebSocket::from_partially_read(stream, leftover, Role::Client, None);
    let _welcome = next(&mut ws);
    let r = request(
        &mut ws,
        json!({"event": "action", "params": {"action": "randomNumber"}, "messageId": 1}),
    );
    assert!(r["randomNumber"].is_number(), "{r}");
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    wait_event(&events, |e| matches!(e, Event::Disconnected { .. }));

    // A protocol error over wss://.
    let mut peer = raw_ws::RawPeer::upgrade(tls_stream(addr, &client), addr);
    peer.send_unmasked_text(r#"{"event":"detailsView"}"#);
    assert_eq!(peer.read_close(), Some((1002, "protocol error".to_owned())));
    assert!(
        peer.ends(),
        "the server ends the TLS stream after its close frame"
    );
    let e = wait_event(&events, |e| matches!(e, Event::Disconnected { .. }));
    assert!(
        matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::Socket(CloseCause::Protocol(_)),
                ..
            }
        ),
        "{e:?}"
    );

    let (status, text) = scrape(metrics, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert_series(
        support::http_body(&text),
        &[
            "ahws_connections_opened_total 2",
            "ahws_connections_open 0",
            r#"ahws_connections_closed_total{cause="remote_closed"} 1"#,
            r#"ahws_connections_closed_total{cause="protocol_error"} 1"#,
            r#"ahws_http_requests_total{route="upgrade"} 2"#,
            r#"ahws_actions_total{action="randomNumber",outcome="ok"} 1"#,
            // welcome twice and the action's answer, all taken off the queues
            "ahws_messages_sent_total 3",
            "ahws_outbound_queued_frames 0",
        ],
    );
    stop(&server);
}
