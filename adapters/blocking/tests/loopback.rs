//! Loopback tests of the blocking adapter (docs/architecture.md#adapter-tests): a real server on
//! `127.0.0.1:0`, blocking clients and raw WebSocket peers. Protocol behaviour is tested
//! in the core; these check that the adapter moves bytes, threads and time correctly.
//! Timeouts are milliseconds, so no test sleeps long.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tokio/tests/support/mod.rs"]
mod support;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use actionhero_ws::client::{ClientEvent, DisconnectReason as ClientDisconnect};
use actionhero_ws::handshake::{client_upgrade, parse_response, HandshakeLimits, ResponseParsed};
use actionhero_ws::http::WebConfig;
use actionhero_ws::server::{
    ActionOutcome, ActionSpec, CloseCause, CloseReason, DisconnectReason, Event, Input,
};
use actionhero_ws::RoomName;
use actionhero_ws_blocking::client::{self, Client};
use actionhero_ws_blocking::samples;
use actionhero_ws_blocking::server::{self, ServerBuilder, ServerHandle};
use serde_json::{json, Map, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

const WAIT: Duration = Duration::from_secs(5);

// ---- tests -------------------------------------------------------------------------

#[test]
fn actions_run_off_the_driver_and_answer_with_their_message_id() {
    let (server, _events) = start(builder(server_config()), "127.0.0.1:0");
    let url = url(&server);
    let a = Client::connect(&url, client_config()).expect("connect a");
    let b = Client::connect(&url, client_config()).expect("connect b");

    let r = a
        .action("echo", params(json!({"message": "hello"})))
        .unwrap();
    assert_eq!(r["echo"], "hello");
    assert_eq!(r["context"], "response");
    let e = a.action("noSuchAction", Map::new()).unwrap_err();
    assert!(
        matches!(&e, client::RequestError::Response { error, body }
            if error == "unknown action or invalid apiVersion" && body["context"] == "response"),
        "{e:?}"
    );

    // A slow action on B does not hold up A's actions (worker pool, not the driver).
    let slow = thread::spawn(move || {
        let r = b.action("sleepTest", params(json!({"sleepDuration": 400})));
        (r, b)
    });
    thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    let r = a.action("randomNumber", Map::new()).unwrap();
    assert!(r["randomNumber"].is_number(), "{r}");
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    let (r, _b) = slow.join().unwrap();
    let r = r.unwrap();
    assert!(r["sleepDelta"].as_u64().unwrap() >= 400, "{r}");

    let d = a.details_view().unwrap();
    assert_eq!(d["data"]["totalActions"], 3);
    a.disconnect();
    stop(&server);
}

#[test]
fn rooms_and_say_between_two_clients() {
    let (server, _events) = start(builder(server_config()), "127.0.0.1:0");
    let url = url(&server);
    let a = Client::connect(&url, client_config()).expect("connect a");
    let b = Client::connect(&url, client_config()).expect("connect b");
    let a_id = connected_id(&a);
    let b_id = connected_id(&b);

    assert_eq!(a.room_add("defaultRoom").unwrap()["status"], "OK");
    assert_eq!(b.room_add("defaultRoom").unwrap()["status"], "OK");
    let view = a.room_view("defaultRoom").unwrap();
    assert_eq!(view["data"]["membersCount"], 2, "{view}");

    let r = a.say("defaultRoom", "hello from a").unwrap();
    assert_eq!(r["status"], "OK");
    for (who, c) in [("a", &a), ("b", &b)] {
        let (room, from, message) = next_say(c);
        assert_eq!(
            (room.as_str(), from.as_str(), message),
            ("defaultRoom", a_id.as_str(), json!("hello from a")),
            "{who}"
        );
    }
    b.say("defaultRoom", "hello back").unwrap();
    assert_eq!(next_say(&a).1, b_id);
    assert_eq!(next_say(&b).1, b_id);

    assert_eq!(b.room_leave("defaultRoom").unwrap()["status"], "OK");
    let e = b.say("defaultRoom", "not a member").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error: connection not in this room (defaultRoom)"
    );
    assert!(matches!(
        b.room_add(""),
        Err(client::RequestError::InvalidRoomName)
    ));
    assert_eq!(b.rooms().unwrap(), Vec::<RoomName>::new());
    assert_eq!(a.rooms().unwrap(), vec![room("defaultRoom")]);
    a.disconnect();
    b.disconnect();
    stop(&server);
}

#[test]
fn client_reconnects_to_a_restarted_server_and_is_back_in_its_rooms() {
    let (first, _events) = start(builder(server_config()), "127.0.0.1:0");
    let addr = first.local_addr();
    let client = Client::connect(&url(&first), client_config()).expect("connect");
    client.room_add("defaultRoom").unwrap();
    let first_id = client.details_view().unwrap()["data"]["id"].clone();
    while client.try_recv().is_some() {}

    // Graceful restart: `reconnect = true` lets clients come back.
    first.shutdown(true);
    assert!(first.join_timeout(WAIT), "first server did not stop");
    let (second, _events2) = start_retrying(builder(server_config()), addr);

    let rooms = wait_for(&client, |e| match e {
        ClientEvent::Connected { rooms, .. } => Some(rooms.clone()),
        _ => None,
    });
    assert_eq!(rooms, vec![room("defaultRoom")]);
    let d = client.details_view().unwrap();
    assert_eq!(d["data"]["rooms"], json!(["defaultRoom"]), "{d}");
    assert_ne!(d["data"]["id"], first_id, "a new server-side connection");
    client.say("defaultRoom", "back again").unwrap();
    assert_eq!(next_say(&client).2, json!("back again"));
    client.disconnect();
    stop(&second);
}

#[test]
fn abrupt_close_emits_disconnected() {
    let (server, events) = start(builder(server_config()), "127.0.0.1:0");
    let ws = raw_peer(server.local_addr());
    let conn = wait_event(&events, |e| match e {
        Event::Connected { conn, .. } => Some(*conn),
        _ => None,
    });
    // Drop the TCP connection without a close frame.
    ws.get_ref().shutdown(std::net::Shutdown::Both).unwrap();
    drop(ws);
    let reason = wait_event(&events, |e| match e {
        Event::Disconnected { conn: c, reason } if *c == conn => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        reason,
        DisconnectReason::Socket(CloseCause::Remote { code: None })
    );
    stop(&server);
}

#[test]
fn handshake_answers_carry_the_cores_http_status() {
    let (server, _events) = start(builder(server_config()), "127.0.0.1:0");
    let addr = server.local_addr();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(support::raw_http(addr, &get("/nope")).0, 404);
    assert_eq!(support::raw_http(addr, &get("/primus")).0, 426);
    let (status, text) = support::raw_http(addr, &get("/primus/spec"));
    assert_eq!(status, 200);
    assert!(text.contains("\"pingInterval\":200"), "{text}");
    assert_eq!(support::raw_http(addr, "NOT HTTP AT ALL\r\n\r\n").0, 400);
    stop(&server);
}

#[test]
fn slow_consumer_is_closed_when_its_outbox_is_full() {
    let config = server::Config {
        outbound_queue: 2,
        write_timeout: Duration::from_secs(2),
        ..server_config()
    };
    let (server, events) = start(builder(config), "127.0.0.1:0");
    let mut ws = raw_peer(server.local_addr());
    let conn = wait_event(&events, |e| match e {
        Event::Connected { conn, .. } => Some(*conn),
        _ => None,
    });
    ws.send(Message::text(
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#,
    ))
    .unwrap();
    wait_event(&events, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    });
    // From now on the peer reads nothing; broadcasts pile up in its socket, then in
    // its outbox, until the driver's try_send fails.
    let big = "x".repeat(256 * 1024);
    let mut reason = None;
    for _ in 0..400 {
        let _ = server.broadcast("defaultRoom", json!(big));
        if let Some(r) = poll_events(&events, |e| match e {
            Event::Disconnected { conn: c, reason } if *c == conn => Some(reason.clone()),
            _ => None,
        }) {
            reason = Some(r);
            break;
        }
    }
    assert_eq!(
        reason,
        Some(DisconnectReason::Closed(CloseReason::SlowConsumer))
    );
    drop(ws);
    stop(&server);
}

#[test]
fn oversize_message_is_closed_with_1009() {
    let mut config = server_config();
    config.core.max_message_len = 1024;
    let (server, events) = start(builder(config), "127.0.0.1:0");
    let mut ws = raw_peer(server.local_addr());
    ws.send(Message::text("x".repeat(4096))).unwrap();
    let code = loop {
        match ws.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| f.code),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, Some(CloseCode::Size));
    let reason = wait_event(&events, |e| match e {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, DisconnectReason::MessageTooLarge);
    stop(&server);
}

#[test]
fn file_verb_serves_the_public_directory_only() {
    let dir = std::env::temp_dir().join(format!("ahws-blocking-public-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("public")).unwrap();
    std::fs::write(dir.join("public/hello.txt"), "hi there").unwrap();
    std::fs::write(dir.join("secret.txt"), "no").unwrap();
    let config = server::Config {
        web: WebConfig {
            public_dir: Some(dir.join("public")),
            ..WebConfig::default()
        },
        ..server_config()
    };
    let (server, _events) = start(builder(config), "127.0.0.1:0");
    let c = Client::connect(&url(&server), client_config()).expect("connect");
    let r = c.file("hello.txt").unwrap();
    assert_eq!(
        (&r["content"], &r["mime"], &r["length"]),
        (&json!("hi there"), &json!("text/plain"), &json!(8)),
        "{r}"
    );
    for bad in ["../secret.txt", "/etc/hosts", "missing.txt"] {
        let e = c.file(bad).unwrap_err();
        assert_eq!(e.to_string(), "that file is not found", "{bad}");
    }
    c.disconnect();
    stop(&server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_without_reconnect_stops_clients_for_good() {
    let (server, _events) = start(builder(server_config()), "127.0.0.1:0");
    let c = Client::connect(&url(&server), client_config()).expect("connect");
    let t0 = Instant::now();
    server.shutdown(false);
    assert!(server.join_timeout(WAIT));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let reason = wait_for(&c, |e| match e {
        ClientEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, ClientDisconnect::ServerClosed);
    assert!(matches!(
        c.details_view(),
        Err(client::RequestError::Stopped)
    ));
    assert!(server.create_room("late").is_err());
}

#[test]
fn connect_refuses_tls_up_front() {
    let e = Client::connect("wss://127.0.0.1:1", client_config()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
    let e = Client::connect("ftp://127.0.0.1:1", client_config()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

/// A port nothing listens on (released a moment ago).
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn a_refused_first_connect_is_retried_until_the_server_listens() {
    // The core's default (`retry_first_connect`): `connect` waits through the backoff.
    let addr = closed_port();
    let late = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        start_retrying(builder(server_config()), addr)
    });
    let t0 = Instant::now();
    let c = Client::connect(&format!("http://{addr}"), client_config()).expect("connect");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    // The refused attempts were reported before the connection (`wait_for` panics
    // when no such event is queued).
    wait_for(&c, |e| {
        matches!(e, ClientEvent::ConnectionLost { .. }).then_some(())
    });
    assert_eq!(
        c.action("randomNumber", Map::new()).unwrap()["context"],
        "response"
    );
    c.disconnect();
    let (server, _events) = late.join().unwrap();
    stop(&server);
}

#[test]
fn without_retry_first_connect_a_refused_connect_fails() {
    let mut config = client_config();
    config.core.retry_first_connect = false;
    let e = Client::connect(&format!("http://{}", closed_port()), config).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
    assert!(e.to_string().contains("FirstConnectFailed"), "{e}");
}

// ---- helpers -----------------------------------------------------------------------

fn server_config() -> server::Config {
    let mut c = server::Config {
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(200),
        shutdown_drain: Duration::from_millis(200),
        workers: 4,
        ..server::Config::default()
    };
    c.core.ping_interval = Some(Duration::from_millis(200));
    c.core.shutdown_grace = Duration::from_millis(500);
    c
}

fn client_config() -> client::Config {
    let mut c = client::Config {
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(200),
        ..client::Config::default()
    };
    c.core.connect_timeout = Duration::from_secs(2);
    c.core.request_timeout = Duration::from_secs(5);
    c.core.reconnect.min = Duration::from_millis(20);
    c.core.reconnect.max = Some(Duration::from_millis(200));
    c.core.reconnect.retries = 50;
    c.core.reconnect.attempt_timeout = Duration::from_secs(2);
    c
}

/// The sample actions, `defaultRoom`/`otherRoom`, and an `echo` action.
fn builder(config: server::Config) -> ServerBuilder {
    let echo = ActionSpec::new("echo").input("message", Input::required());
    samples::register(ServerBuilder::new(config))
        .room("defaultRoom")
        .room("otherRoom")
        .action(echo, |ctx| {
            let mut out = Map::new();
            out.insert("echo".into(), ctx.params["message"].clone());
            ActionOutcome::Ok(out)
        })
}

fn start(mut b: ServerBuilder, addr: &str) -> (ServerHandle, Receiver<Event>) {
    // Subscribing is optional; tests that don't care still get a (large) channel.
    let events = b.events(4096);
    (b.bind(addr).expect("bind"), events)
}

/// Binds `addr` again (the previous server just released it).
fn start_retrying(b: ServerBuilder, addr: SocketAddr) -> (ServerHandle, Receiver<Event>) {
    let until = Instant::now() + WAIT;
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => {
                let mut b = b;
                let events = b.events(4096);
                return (b.serve(l).expect("serve"), events);
            }
            Err(e) if Instant::now() < until => {
                let _ = e;
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("rebind {addr}: {e}"),
        }
    }
}

fn stop(server: &ServerHandle) {
    server.shutdown(false);
    assert!(server.join_timeout(WAIT), "server did not stop");
}

fn url(server: &ServerHandle) -> String {
    format!("http://{}", server.local_addr())
}

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

fn connected_id(c: &Client) -> String {
    c.details_view().unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits for the client's next `Say` event (room, from, message).
fn next_say(c: &Client) -> (String, String, Value) {
    wait_for(c, |e| match e {
        ClientEvent::Say {
            room,
            from,
            message,
            ..
        } => Some((
            room.as_str().to_string(),
            from.as_str().to_string(),
            message.clone(),
        )),
        _ => None,
    })
}

/// Reads client events until `pick` returns something, within `WAIT`.
fn wait_for<T>(c: &Client, mut pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let e = c.recv_timeout(left).expect("client event in time");
        if let Some(t) = pick(&e) {
            return t;
        }
    }
}

/// Reads server events until `pick` returns something, within `WAIT`.
fn wait_event<T>(events: &Receiver<Event>, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let e = events.recv_timeout(left).expect("server event in time");
        if let Some(t) = pick(&e) {
            return t;
        }
    }
}

/// Reads the server events already there; returns what `pick` found, if anything.
fn poll_events<T>(
    events: &Receiver<Event>,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Option<T> {
    while let Ok(e) = events.recv_timeout(Duration::from_millis(5)) {
        if let Some(t) = pick(&e) {
            return Some(t);
        }
    }
    None
}

/// A raw WebSocket peer: the core's upgrade request over TCP, then tungstenite.
fn raw_peer(addr: SocketAddr) -> WebSocket<TcpStream> {
    let up = client_upgrade(
        &format!("http://{addr}"),
        "/primus",
        "sessionID",
        None,
        [7; 16],
        "x",
    )
    .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&up.request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let consumed = loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        match parse_response(&buf, &up.expected_accept, &HandshakeLimits::default()).unwrap() {
            ResponseParsed::Complete { consumed } => break consumed,
            ResponseParsed::NeedMore => {}
        }
    };
    WebSocket::from_partially_read(s, buf.split_off(consumed), Role::Client, None)
}
