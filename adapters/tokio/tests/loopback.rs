//! Loopback smoke tests of the tokio adapter (docs/architecture.md#adapter-tests) on
//! 127.0.0.1:0. Protocol behaviour is tested in the core; these check the sockets, tasks
//! and queues.

mod support;

#[path = "support/ws.rs"]
mod ws;

use std::time::Duration;

use actionhero_ws::server::{CloseReason, DisconnectReason, Event, ServerConfig};
use actionhero_ws_tokio::server::{AdapterConfig, ServerBuilder, ServerHandle};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use ws::{raw_ws, RawWs};

const WAIT: Duration = Duration::from_secs(5);

fn test_config() -> ServerConfig {
    ServerConfig {
        ping_interval: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    }
}

/// A server on 127.0.0.1:0 with the sample actions and `defaultRoom`; events on the
/// receiver.
async fn start(
    config: ServerConfig,
    adapter: AdapterConfig,
) -> (ServerHandle, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(10_000);
    let builder = ServerBuilder::new()
        .listen("127.0.0.1:0")
        .config(config)
        .adapter_config(adapter)
        .room("defaultRoom")
        .room("otherRoom")
        .events(tx);
    let server = actionhero_ws_tokio::samples::register(builder)
        .serve()
        .await
        .expect("serve");
    (server, rx)
}

/// The next text message (skipping Primus pings, answering them), parsed.
async fn next_json(ws: &mut RawWs) -> Value {
    loop {
        let msg = timeout(WAIT, ws.next())
            .await
            .expect("message in time")
            .expect("stream open")
            .expect("no error");
        let Message::Text(text) = msg else { continue };
        let value: Value = serde_json::from_str(&text).expect("json");
        if let Some(ping) = value
            .as_str()
            .and_then(|s| s.strip_prefix("primus::ping::"))
        {
            let pong = format!("\"primus::pong::{ping}\"");
            ws.send(Message::text(pong)).await.expect("pong");
            continue;
        }
        return value;
    }
}

async fn send_json(ws: &mut RawWs, value: Value) {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("send");
}

/// Waits for an event matching `pred`, returning it.
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

#[tokio::test]
async fn raw_action_round_trip_and_welcome() {
    let (server, _events) = start(test_config(), AdapterConfig::default()).await;
    let mut ws = raw_ws(server.local_addr()).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"welcome": "Welcome to the actionhero api", "context": "api"})
    );
    send_json(
        &mut ws,
        json!({"event": "action", "params": {"action": "cacheTest"}, "messageId": 1}),
    )
    .await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"error": "key is a required parameter for this action", "context": "response", "messageId": 1})
    );
    server.shutdown(true).await;
}

#[tokio::test]
async fn handshake_rejections_carry_their_http_status() {
    let (server, _events) = start(test_config(), AdapterConfig::default()).await;
    let addr = server.local_addr();
    let upgrade = |path: &str, key: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        )
    };
    let (status, _) = tokio::task::spawn_blocking(move || {
        support::raw_http(addr, &upgrade("/api", "dGhlIHNhbXBsZSBub25jZQ=="))
    })
    .await
    .unwrap();
    assert_eq!(status, 404, "upgrade outside /primus");
    let (status, text) = tokio::task::spawn_blocking(move || {
        support::raw_http(addr, "GET /primus HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .unwrap();
    assert_eq!(status, 426, "plain GET /primus: {text}");
    assert_eq!(support::http_body(&text), "Upgrade Required");
    let (status, text) = tokio::task::spawn_blocking(move || {
        support::raw_http(addr, "GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        support::http_body(&text),
        r#"{"pingInterval":200,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}"#
    );
    let (status, _) =
        tokio::task::spawn_blocking(move || support::raw_http(addr, &upgrade("/primus", "short")))
            .await
            .unwrap();
    assert_eq!(status, 400, "bad Sec-WebSocket-Key");
    let (status, _) =
        tokio::task::spawn_blocking(move || support::raw_http(addr, "GARBAGE\r\n\r\n"))
            .await
            .unwrap();
    assert_eq!(status, 400, "malformed head");
    server.shutdown(true).await;
}

#[tokio::test]
async fn abrupt_tcp_close_is_reported_as_disconnected() {
    let (server, mut events) = start(test_config(), AdapterConfig::default()).await;
    let ws = raw_ws(server.local_addr()).await;
    let Event::Connected { conn, .. } =
        wait_event(&mut events, |e| matches!(e, Event::Connected { .. })).await
    else {
        unreachable!()
    };
    drop(ws); // no close frame: the TCP connection just ends
    let e = wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { conn: gone, reason } = e else {
        unreachable!()
    };
    assert_eq!(gone, conn);
    assert!(matches!(reason, DisconnectReason::Socket(_)), "{reason:?}");
    server.shutdown(true).await;
}

#[tokio::test]
async fn oversize_message_closes_with_1009() {
    let config = ServerConfig {
        max_message_len: 1024,
        ..test_config()
    };
    let (server, mut events) = start(config, AdapterConfig::default()).await;
    let mut ws = raw_ws(server.local_addr()).await;
    let _welcome = next_json(&mut ws).await;
    let big = format!("\"{}\"", "x".repeat(4096));
    ws.send(Message::text(big)).await.expect("send");
    let close = timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("close in time");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1009));
    let e = wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    assert!(
        matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::MessageTooLarge,
                ..
            }
        ),
        "{e:?}"
    );
    server.shutdown(true).await;
}

#[tokio::test]
async fn slow_consumer_is_closed_while_others_keep_receiving() {
    let adapter = AdapterConfig {
        outbound_queue: 64,
        ..AdapterConfig::default()
    };
    let config = ServerConfig {
        ping_interval: None,
        ..ServerConfig::default()
    };
    let (server, mut events) = start(config, adapter).await;
    let addr = server.local_addr();

    // The slow one joins and then never reads again.
    let mut slow = raw_ws(addr).await;
    send_json(
        &mut slow,
        json!({"event": "roomAdd", "room": "defaultRoom", "messageId": 1}),
    )
    .await;
    let Event::Connected {
        conn: slow_conn, ..
    } = wait_event(&mut events, |e| matches!(e, Event::Connected { .. })).await
    else {
        unreachable!()
    };
    wait_event(&mut events, |e| matches!(e, Event::RoomJoined { .. })).await;

    // The fast one joins and reads everything on its own task.
    let mut fast = raw_ws(addr).await;
    let _welcome = next_json(&mut fast).await;
    send_json(
        &mut fast,
        json!({"event": "roomAdd", "room": "defaultRoom", "messageId": 1}),
    )
    .await;
    assert_eq!(next_json(&mut fast).await["status"], "OK");
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<u64>();
    let reader = tokio::spawn(async move {
        loop {
            let v = next_json(&mut fast).await;
            if let Some(n) = v["message"]["n"].as_u64() {
                let _ = seen_tx.send(n);
            }
        }
    });

    // Broadcast ~4 KiB messages, paced so the fast reader keeps up, until the slow one
    // (whose socket buffers fill up) is closed.
    let payload = "y".repeat(4096);
    let mut closed = None;
    let mut n = 0u64;
    while closed.is_none() && n < 200_000 {
        for _ in 0..16 {
            n += 1;
            server
                .broadcast("defaultRoom", json!({"n": n, "pad": payload}))
                .await
                .expect("broadcast");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        while let Ok(e) = events.try_recv() {
            if let Event::Disconnected { conn, reason } = e {
                closed = Some((conn, reason));
            }
        }
    }
    let (conn, reason) = closed.expect("the slow consumer was closed");
    assert_eq!(conn, slow_conn);
    assert_eq!(reason, DisconnectReason::Closed(CloseReason::SlowConsumer));

    // Everyone else carries on: the fast reader gets a message sent after the close.
    n += 1;
    let last = n;
    let reached = server
        .broadcast("defaultRoom", json!({"n": last}))
        .await
        .expect("broadcast");
    assert_eq!(reached, 1, "only the fast client is left in the room");
    timeout(Duration::from_secs(20), async {
        while let Some(seen) = seen_rx.recv().await {
            if seen == last {
                return;
            }
        }
        panic!("reader ended");
    })
    .await
    .expect("the fast client received the last message");
    reader.abort();
    drop(slow);
    server.shutdown(true).await;
}

#[tokio::test]
async fn graceful_shutdown_sends_primus_server_close() {
    let (server, mut events) = start(test_config(), AdapterConfig::default()).await;
    let mut ws = raw_ws(server.local_addr()).await;
    let _welcome = next_json(&mut ws).await;
    timeout(WAIT, server.shutdown(false))
        .await
        .expect("shutdown in time");
    assert!(server.is_stopped());
    assert_eq!(next_json(&mut ws).await, json!("primus::server::close"));
    let end = timeout(WAIT, ws.next()).await.expect("close in time");
    assert!(
        matches!(end, Some(Ok(Message::Close(_))) | None),
        "expected a close, got {end:?}"
    );
    let e = wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    assert!(
        matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::Shutdown,
                ..
            }
        ),
        "{e:?}"
    );
    // New connections are refused.
    assert!(TcpStream::connect(server.local_addr()).await.is_err());
}

// ---- with the tokio client ---------------------------------------------------------

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws_tokio::client::{self, ClientEvents, RequestError};

fn client_config() -> ClientConfig {
    ClientConfig {
        ping_timeout: Some(Duration::from_secs(2)),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

/// Waits for a client event matching `pred`.
async fn wait_client(
    events: &mut ClientEvents,
    pred: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("client events open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("client event in time")
}

#[tokio::test]
async fn client_action_round_trip() {
    let (server, _events) = start(test_config(), AdapterConfig::default()).await;
    let url = format!("http://{}", server.local_addr());
    let (client, mut events) = client::connect(url, client_config()).expect("client");
    let answer = client
        .action("randomNumber", serde_json::Map::new())
        .await
        .expect("randomNumber");
    let n = answer["randomNumber"].as_f64().expect("a number");
    assert!((0.0..1.0).contains(&n));
    assert_eq!(answer["context"], "response");
    let err = client
        .action("cacheTest", serde_json::Map::new())
        .await
        .expect_err("missing key");
    assert!(
        matches!(&err, RequestError::Response { error, .. } if error == "key is a required parameter for this action"),
        "{err:?}"
    );
    wait_client(&mut events, |e| matches!(e, ClientEvent::Connected { .. })).await;
    client.disconnect().await;
    wait_client(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .await;
    server.shutdown(false).await;
}

#[tokio::test]
async fn a_refused_first_connect_is_retried_until_the_server_listens() {
    // The core's default (`retry_first_connect`), as in the blocking adapter.
    let port = support::free_port();
    let mut config = client_config();
    config.reconnect.min = Duration::from_millis(20);
    config.reconnect.max = Some(Duration::from_millis(200));
    config.reconnect.retries = 50;
    let url = format!("http://127.0.0.1:{port}");
    let (client, mut events) = client::connect(url, config).expect("client");
    wait_client(&mut events, |e| {
        matches!(e, ClientEvent::ConnectionLost { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (tx, _rx) = mpsc::channel(16);
    let builder = ServerBuilder::new()
        .listen(format!("127.0.0.1:{port}"))
        .config(test_config())
        .events(tx);
    let server = actionhero_ws_tokio::samples::register(builder)
        .serve()
        .await
        .expect("serve on the refused port");
    wait_client(&mut events, |e| matches!(e, ClientEvent::Connected { .. })).await;
    let answer = client.action("randomNumber", serde_json::Map::new()).await;
    assert_eq!(answer.expect("randomNumber")["context"], "response");
    client.disconnect().await;
    server.shutdown(false).await;
}

#[tokio::test]
async fn without_retry_first_connect_a_refused_connect_stops_the_client() {
    let mut config = client_config();
    config.retry_first_connect = false;
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let (client, mut events) = client::connect(url, config).expect("client");
    let e = wait_client(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(
            e,
            ClientEvent::Disconnected {
                reason: actionhero_ws::client::DisconnectReason::FirstConnectFailed(_)
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        client.action("randomNumber", serde_json::Map::new()).await,
        Err(RequestError::Refused(
            actionhero_ws::error::UsageError::Closed
        ))
    );
}

#[tokio::test]
async fn room_add_and_say_between_two_clients() {
    let (server, _events) = start(test_config(), AdapterConfig::default()).await;
    let url = format!("http://{}", server.local_addr());
    let (a, mut a_events) = client::connect(url.clone(), client_config()).expect("client a");
    let (b, mut b_events) = client::connect(url, client_config()).expect("client b");
    let ClientEvent::Connected { id: a_id, .. } = wait_client(&mut a_events, |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(
        a.room_add("defaultRoom").await.expect("a joins")["status"],
        "OK"
    );
    assert_eq!(
        b.room_add("defaultRoom").await.expect("b joins")["status"],
        "OK"
    );
    let view = b.room_view("defaultRoom").await.expect("roomView");
    assert_eq!(view["data"]["membersCount"], 2);
    a.say("defaultRoom", "hello from a").await.expect("say");
    for events in [&mut b_events, &mut a_events] {
        let said = wait_client(events, |e| matches!(e, ClientEvent::Say { .. })).await;
        let ClientEvent::Say {
            room,
            from,
            message,
            ..
        } = said
        else {
            unreachable!()
        };
        assert_eq!(room.as_str(), "defaultRoom");
        assert_eq!(from, a_id);
        assert_eq!(message, json!("hello from a"));
    }
    let err = b
        .say("otherRoom", "nope")
        .await
        .expect_err("not in otherRoom");
    assert!(
        matches!(&err, RequestError::Response { error, .. } if error == "Error: connection not in this room (otherRoom)"),
        "{err:?}"
    );
    a.disconnect().await;
    b.disconnect().await;
    server.shutdown(false).await;
}

#[tokio::test]
async fn slow_handshake_is_dropped_after_the_handshake_timeout() {
    let adapter = AdapterConfig {
        handshake_timeout: Duration::from_millis(200),
        ..AdapterConfig::default()
    };
    let (server, _events) = start(test_config(), adapter).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    stream
        .write_all(b"GET /primus HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let n = timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("the server gave up in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "dropped without an answer");
    server.shutdown(true).await;
}

#[tokio::test]
async fn a_panicking_action_answers_with_an_error() {
    use actionhero_ws::server::{ActionOutcome, ActionSpec};
    let server = ServerBuilder::new()
        .listen("127.0.0.1:0")
        .action(ActionSpec::new("boom"), |_ctx| async {
            if true {
                panic!("boom");
            }
            ActionOutcome::NoResponse
        })
        .serve()
        .await
        .expect("serve");
    let url = format!("http://{}", server.local_addr());
    let (client, _events) = client::connect(url, client_config()).expect("client");
    let err = client
        .action("boom", serde_json::Map::new())
        .await
        .expect_err("an error response");
    assert!(
        matches!(&err, RequestError::Response { error, .. } if error == "action failed"),
        "{err:?}"
    );
    client.disconnect().await;
    server.shutdown(false).await;
}

#[tokio::test]
async fn application_alert_and_close_reach_the_client() {
    let (server, mut events) = start(test_config(), AdapterConfig::default()).await;
    let url = format!("http://{}", server.local_addr());
    let (client, mut client_events) = client::connect(url, client_config()).expect("client");
    let Event::Connected { conn, .. } =
        wait_event(&mut events, |e| matches!(e, Event::Connected { .. })).await
    else {
        unreachable!()
    };
    wait_client(&mut client_events, |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .await;
    server.alert(conn, json!("heads up")).await.expect("alert");
    let alert = wait_client(&mut client_events, |e| matches!(e, ClientEvent::Alert(_))).await;
    let ClientEvent::Alert(body) = alert else {
        unreachable!()
    };
    assert_eq!(body["message"], "heads up");
    server.close(conn).await.expect("close");
    let end = wait_client(&mut client_events, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        end,
        ClientEvent::Disconnected {
            reason: actionhero_ws::client::DisconnectReason::ServerClosed
        }
    );
    drop(client);
    server.shutdown(false).await;
}

/// `wss://` end to end: a TLS terminator with a self-signed certificate in front of the
/// plain server, and the client trusting that certificate.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn wss_client_through_a_tls_terminator() {
    use actionhero_ws_tokio::client::ClientOptions;
    use actionhero_ws_tokio::rustls;
    use std::sync::Arc;

    let (server, _events) = start(test_config(), AdapterConfig::default()).await;
    let backend = server.local_addr();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server tls");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tls_port = listener.local_addr().expect("addr").port();
    let terminator = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let options = ClientOptions {
        tls: Some(Arc::new(client_tls)),
        ..ClientOptions::default()
    };
    let config = ClientConfig {
        url: format!("wss://localhost:{tls_port}"),
        ..client_config()
    };
    let (client, mut events) = client::connect_with(config, options).expect("client");
    let answer = client
        .action("randomNumber", serde_json::Map::new())
        .await
        .expect("randomNumber over wss");
    assert!(answer["randomNumber"].is_f64());
    wait_client(&mut events, |e| matches!(e, ClientEvent::Connected { .. })).await;
    client.disconnect().await;
    terminator.abort();
    server.shutdown(false).await;
}
