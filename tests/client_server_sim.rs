//! In-memory client ↔ server pairs in virtual time (docs/architecture.md#simulation):
//! real [`Client`]s against a real [`Server`], the upgrade going through the handshake
//! module both ways
//! (the client's request bytes → `parse_request` → `evaluate` → the `101` bytes →
//! `parse_response` with the client's `expected_accept`). Links carry frames with a
//! small latency and can be partitioned; the server can be stopped and restarted.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::disallowed_methods // one real Instant is the virtual epoch
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use actionhero_ws::client::{
    Client, ClientConfig, ClientEvent, ClientOutput, ClientState, CloseCause, DisconnectReason,
    LostReason, OpenFailure, RequestFailure,
};
use actionhero_ws::handshake::{
    evaluate, parse_request, parse_response, Decision, HandshakeConfig, Parsed, ResponseParsed,
};
use actionhero_ws::server::{
    self, ActionOutcome, ActionSpec, CloseReason, Event, Input, Output, Server, ServerConfig,
};
use actionhero_ws::{AttemptId, ConnectionHandle, Frame, RoomName};
use serde_json::{json, Map, Value};

const EPOCH_MS: u64 = 1_795_615_000_000;
const LATENCY: Duration = Duration::from_millis(2);

// ---- scenarios ------------------------------------------------------------------------------

#[test]
fn first_connect_welcome_and_an_action() {
    let mut w = World::new(1);
    let a = w.add_client(config());
    w.connect(a);
    w.run_for(Duration::from_millis(50));
    let events = w.take_events(a);
    assert_eq!(
        events[0],
        ClientEvent::Welcome("Welcome to the actionhero api".into())
    );
    let ClientEvent::Connected {
        id,
        fingerprint,
        rooms,
    } = &events[1]
    else {
        panic!("{events:?}")
    };
    assert_eq!(id.as_str(), fingerprint.as_str());
    assert!(rooms.is_empty());
    // The server knows the connection by the same id.
    let conn = w.conn_of(a);
    assert_eq!(w.server.connection(conn).unwrap().id.as_str(), id.as_str());

    let mut params = Map::new();
    params.insert("value".into(), json!(42));
    let req = w.peers[a].client.action("echo", params, w.now).unwrap();
    w.run_for(Duration::from_millis(50));
    let events = w.take_events(a);
    let ClientEvent::Response { id, body } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(id, &req);
    assert_eq!(body["echo"], json!(42));
    assert_eq!(body["context"], "response");
    // Unknown actions answer with Actionhero's error, as a Response.
    let req = w.peers[a].client.action("nope", Map::new(), w.now).unwrap();
    w.run_for(Duration::from_millis(50));
    let events = w.take_events(a);
    assert!(
        matches!(&events[0], ClientEvent::Response { id, body }
            if *id == req && body["error"] == "unknown action or invalid apiVersion"),
        "{events:?}"
    );
}

#[test]
fn fingerprint_reaches_the_server_through_the_handshake() {
    let mut w = World::new(2);
    let mut c = config();
    c.fingerprint = Some("session-abc".into());
    let a = w.add_client(c);
    w.connect(a);
    w.run_for(Duration::from_millis(50));
    let connected = w.connected(a);
    assert_eq!(connected.1.as_str(), "session-abc");
    assert_ne!(connected.0.as_str(), "session-abc");
}

#[test]
fn rooms_and_say_between_two_clients() {
    let mut w = World::new(3);
    let a = w.add_client(config());
    let b = w.add_client(config());
    w.connect(a);
    w.connect(b);
    w.run_for(Duration::from_millis(50));
    let a_id = w.connected(a).0;
    w.take_events(b);
    for p in [a, b] {
        w.peers[p]
            .client
            .room_add(room("defaultRoom"), w.now)
            .unwrap();
    }
    // Joining a missing room fails and is not remembered.
    w.peers[a].client.room_add(room("nowhere"), w.now).unwrap();
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.rooms(a), vec!["defaultRoom"]);
    assert_eq!(w.rooms(b), vec!["defaultRoom"]);
    w.take_events(a);
    w.take_events(b);

    let said = w.peers[a]
        .client
        .say(&room("defaultRoom"), json!("hello from A"), w.now)
        .unwrap();
    w.run_for(Duration::from_millis(50));
    let a_events = w.take_events(a);
    let b_events = w.take_events(b);
    assert!(a_events.contains(&ClientEvent::Response {
        id: said.clone(),
        body: json!({"status":"OK","context":"response","messageId": said.to_json()})
    }));
    for events in [&a_events, &b_events] {
        let say = events
            .iter()
            .find_map(|e| match e {
                ClientEvent::Say {
                    room,
                    from,
                    message,
                    ..
                } => Some((room.clone(), from.clone(), message.clone())),
                _ => None,
            })
            .expect("chat message delivered");
        assert_eq!(
            say,
            (room("defaultRoom"), a_id.clone(), json!("hello from A"))
        );
    }
    // Leaving forgets the room; a say there now fails with the server's error.
    w.peers[b]
        .client
        .room_leave(&room("defaultRoom"), w.now)
        .unwrap();
    w.run_for(Duration::from_millis(50));
    assert!(w.rooms(b).is_empty());
    w.take_events(b);
    let said = w.peers[b]
        .client
        .say(&room("defaultRoom"), json!("x"), w.now)
        .unwrap();
    w.run_for(Duration::from_millis(50));
    let events = w.take_events(b);
    assert!(
        matches!(&events[0], ClientEvent::Response { id, body }
            if *id == said && body["error"] == "Error: connection not in this room (defaultRoom)"),
        "{events:?}"
    );
}

#[test]
fn server_restart_rejoins_rooms_and_flushes_the_queue() {
    let mut w = World::new(4);
    let mut c = config();
    c.rooms = vec![room("defaultRoom")];
    let a = w.add_client(c);
    let b = w.add_client(config());
    w.connect(a);
    w.connect(b);
    w.run_for(Duration::from_millis(50));
    let first_id = w.connected(a).0;
    w.peers[a]
        .client
        .room_add(room("otherRoom"), w.now)
        .unwrap();
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.rooms(a), vec!["defaultRoom", "otherRoom"]);
    w.take_events(a);
    w.take_events(b);

    // The server dies; it stays down for 3 s (refusing connections), then restarts.
    w.stop_server();
    let queued = w.peers[a].client.action("echo", Map::new(), w.now).unwrap();
    w.run_for(Duration::from_secs(3));
    let events = w.take_events(a);
    assert_eq!(
        events[0],
        ClientEvent::ConnectionLost {
            reason: LostReason::Closed(CloseCause::Remote { code: Some(1006) })
        }
    );
    assert!(events.contains(&ClientEvent::Reconnecting {
        attempt: 1,
        after: Duration::from_millis(500)
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        ClientEvent::ConnectionLost {
            reason: LostReason::OpenFailed(OpenFailure::Io(_))
        }
    )));
    assert!(!events
        .iter()
        .any(|e| matches!(e, ClientEvent::RequestFailed { .. })));
    w.start_server();
    w.run_until(
        |w| w.is_connected(a) && w.is_connected(b),
        Duration::from_secs(30),
    );
    let events = w.take_events(a);
    let (new_id, rooms) = events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Connected { id, rooms, .. } => Some((id.clone(), rooms.clone())),
            _ => None,
        })
        .expect("reconnected");
    assert_ne!(new_id, first_id);
    assert_eq!(rooms, vec![room("defaultRoom"), room("otherRoom")]);
    // The server has the new connection in both rooms.
    let conn = w.conn_of(a);
    for r in ["defaultRoom", "otherRoom"] {
        assert_eq!(w.server.members(r), vec![conn], "{r}");
    }
    // The action issued while the server was down was sent after the rejoin, once.
    w.run_for(Duration::from_millis(50));
    let answered: Vec<_> = events
        .iter()
        .chain(w.take_events(a).iter())
        .filter(|e| matches!(e, ClientEvent::Response { id, .. } if *id == queued))
        .cloned()
        .collect();
    assert_eq!(answered.len(), 1);
    // Chat works again between the reconnected clients.
    w.peers[b]
        .client
        .room_add(room("defaultRoom"), w.now)
        .unwrap();
    w.run_for(Duration::from_millis(50));
    w.peers[b]
        .client
        .say(&room("defaultRoom"), json!("back"), w.now)
        .unwrap();
    w.run_for(Duration::from_millis(50));
    assert!(w
        .take_events(a)
        .iter()
        .any(|e| matches!(e, ClientEvent::Say { message, .. } if message == "back")));
}

#[test]
fn heartbeats_keep_an_idle_connection_alive() {
    let mut w = World::new(5);
    let a = w.add_client(config());
    w.connect(a);
    w.run_for(Duration::from_millis(50));
    w.take_events(a);
    // Ten minutes of silence: the server pings every 30 s, the client answers each.
    w.run_for(Duration::from_secs(600));
    assert!(w.take_events(a).is_empty());
    assert!(w.is_connected(a));
    assert_eq!(w.server.len(), 1);
}

#[test]
fn a_partition_longer_than_the_ping_timeout_reconnects() {
    let mut w = World::new(6);
    let mut c = config();
    c.rooms = vec![room("defaultRoom")];
    let a = w.add_client(c);
    w.connect(a);
    w.run_for(Duration::from_millis(50));
    w.take_events(a);
    let old_conn = w.conn_of(a);

    w.peers[a].partitioned = true;
    let lost = w.peers[a].client.action("echo", Map::new(), w.now).unwrap();
    w.run_for(Duration::from_secs(50));
    let events = w.take_events(a);
    // The request deadline (30 s) passes before the ping timeout (45 s).
    assert_eq!(
        events[0],
        ClientEvent::RequestFailed {
            id: lost,
            reason: RequestFailure::TimedOut
        }
    );
    assert_eq!(
        events[1],
        ClientEvent::ConnectionLost {
            reason: LostReason::PingTimeout
        }
    );
    // Attempts made during the partition hang and time out (30 s each).
    w.run_for(Duration::from_secs(40));
    assert!(w.take_events(a).contains(&ClientEvent::ConnectionLost {
        reason: LostReason::ConnectTimeout
    }));
    // The server, whose ping went unanswered, dropped its side at its next tick.
    assert!(w.server.connection(old_conn).is_none());
    w.peers[a].partitioned = false;
    w.run_until(|w| w.is_connected(a), Duration::from_secs(60));
    let (_, _, rooms) = w.connected_full(a);
    assert_eq!(rooms, vec![room("defaultRoom")]);
    assert_eq!(w.server.members("defaultRoom"), vec![w.conn_of(a)]);
}

#[test]
fn primus_server_close_ends_the_client_without_reconnect() {
    let mut w = World::new(7);
    let a = w.add_client(config());
    let b = w.add_client(config());
    w.connect(a);
    w.connect(b);
    w.run_for(Duration::from_millis(50));
    w.take_events(a);
    w.take_events(b);
    // Actionhero's connection.destroy(): primus::server::close, then close.
    let conn = w.conn_of(a);
    w.server.close(conn, CloseReason::Destroy, w.now);
    w.run_for(Duration::from_secs(60));
    assert_eq!(
        w.take_events(a),
        vec![ClientEvent::Disconnected {
            reason: DisconnectReason::ServerClosed
        }]
    );
    assert_eq!(
        w.peers[a].opens, 1,
        "no reconnect after primus::server::close"
    );
    assert_eq!(
        w.peers[a].client.details_view(w.now),
        Err(actionhero_ws::error::UsageError::Closed)
    );
    // A shutdown without reconnect does the same to everyone else.
    w.server.shutdown(false, w.now);
    w.run_for(Duration::from_secs(60));
    assert_eq!(
        w.take_events(b),
        vec![ClientEvent::Disconnected {
            reason: DisconnectReason::ServerClosed
        }]
    );
    assert_eq!(w.peers[b].opens, 1);
}

#[test]
fn shutdown_with_reconnect_lets_clients_come_back() {
    let mut w = World::new(8);
    let a = w.add_client(config());
    w.connect(a);
    w.run_for(Duration::from_millis(50));
    w.take_events(a);
    w.server.shutdown(true, w.now);
    w.run_for(Duration::from_millis(100));
    let events = w.take_events(a);
    assert!(matches!(
        events[0],
        ClientEvent::ConnectionLost {
            reason: LostReason::Closed(_)
        }
    ));
    // The shut-down server refuses; a fresh one accepts.
    w.stop_server();
    w.start_server();
    w.run_until(|w| w.is_connected(a), Duration::from_secs(30));
}

#[test]
fn disconnect_closes_the_server_side() {
    let mut w = World::new(9);
    let a = w.add_client(config());
    w.connect(a);
    w.run_for(Duration::from_millis(50));
    w.peers[a].client.disconnect(w.now);
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.server.len(), 0);
    assert!(w.server_events.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            reason: server::DisconnectReason::Socket(_),
            ..
        }
    )));
    assert_eq!(
        w.peers[a].client.state(),
        ClientState::Closed {
            reason: DisconnectReason::Local
        }
    );
}

#[test]
fn same_seeds_same_run() {
    let run = || {
        let mut w = World::new(10);
        let mut c = config();
        c.rooms = vec![room("defaultRoom")];
        let a = w.add_client(c);
        w.connect(a);
        w.run_for(Duration::from_millis(50));
        w.stop_server();
        w.run_for(Duration::from_secs(5));
        w.start_server();
        w.run_for(Duration::from_secs(20));
        w.peers[a].log.clone()
    };
    assert_eq!(run(), run());
}

// ---- the world -------------------------------------------------------------------------------

/// Something in flight on a link.
#[derive(Debug)]
enum Delivery {
    ToServer(ConnectionHandle, String),
    CloseToServer(ConnectionHandle),
    ToClient(usize, AttemptId, String),
    CloseToClient(usize, AttemptId, Option<u16>),
}

struct Peer {
    client: Client,
    /// The current socket: its attempt and, once accepted, its server handle.
    socket: Option<(AttemptId, Option<ConnectionHandle>)>,
    events: Vec<ClientEvent>,
    log: Vec<ClientOutput>,
    partitioned: bool,
    opens: usize,
}

struct World {
    start: Instant,
    now: Instant,
    server: Server,
    server_up: bool,
    server_seed: u8,
    server_events: Vec<Event>,
    handshake: HandshakeConfig,
    peers: Vec<Peer>,
    wire: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
}

impl World {
    fn new(seed: u8) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            server: new_server(seed, start),
            server_up: true,
            server_seed: seed,
            server_events: Vec::new(),
            handshake: HandshakeConfig::default(),
            peers: Vec::new(),
            wire: BTreeMap::new(),
            seq: 0,
        }
    }

    fn add_client(&mut self, config: ClientConfig) -> usize {
        let seed = [self.peers.len() as u8 + 100; 32];
        let unix = UNIX_EPOCH + Duration::from_millis(EPOCH_MS);
        let client = Client::new(config, seed, self.start, unix).unwrap();
        self.peers.push(Peer {
            client,
            socket: None,
            events: Vec::new(),
            log: Vec::new(),
            partitioned: false,
            opens: 0,
        });
        self.peers.len() - 1
    }

    fn connect(&mut self, p: usize) {
        self.peers[p].client.connect(self.now);
        self.drain();
    }

    fn stop_server(&mut self) {
        self.server_up = false;
        // Every TCP connection drops at once (close 1006 on the client side).
        for p in 0..self.peers.len() {
            if let Some((attempt, Some(_))) = self.peers[p].socket {
                self.peers[p].socket = None;
                let cause = CloseCause::Remote { code: Some(1006) };
                self.peers[p].client.handle_closed(attempt, cause, self.now);
            }
        }
        self.wire
            .retain(|_, d| !matches!(d, Delivery::ToServer(..) | Delivery::CloseToServer(_)));
        self.drain();
    }

    fn start_server(&mut self) {
        self.server_seed = self.server_seed.wrapping_add(50);
        self.server = new_server(self.server_seed, self.now);
        self.server_up = true;
    }

    fn take_events(&mut self, p: usize) -> Vec<ClientEvent> {
        std::mem::take(&mut self.peers[p].events)
    }

    fn rooms(&self, p: usize) -> Vec<&str> {
        self.peers[p].client.rooms().map(RoomName::as_str).collect()
    }

    fn conn_of(&self, p: usize) -> ConnectionHandle {
        self.peers[p]
            .socket
            .and_then(|(_, c)| c)
            .expect("open socket")
    }

    fn is_connected(&self, p: usize) -> bool {
        matches!(self.peers[p].client.state(), ClientState::Connected { .. })
    }

    fn connected(&self, p: usize) -> (actionhero_ws::ConnectionId, actionhero_ws::Fingerprint) {
        let (id, fp, _) = self.connected_full(p);
        (id, fp)
    }

    fn connected_full(
        &self,
        p: usize,
    ) -> (
        actionhero_ws::ConnectionId,
        actionhero_ws::Fingerprint,
        Vec<RoomName>,
    ) {
        self.peers[p]
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                ClientEvent::Connected {
                    id,
                    fingerprint,
                    rooms,
                } => Some((id.clone(), fingerprint.clone(), rooms.clone())),
                _ => None,
            })
            .expect("Connected event")
    }

    /// Runs until `until`, stepping through every delivery and timer on the way.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        // Commands were issued on the clients directly: route what they queued first.
        self.drain();
        while let Some(t) = self.next_time().filter(|t| *t <= until) {
            self.step_to(t);
        }
        self.step_to(until);
    }

    fn run_until(&mut self, pred: impl Fn(&World) -> bool, max: Duration) {
        let until = self.now + max;
        self.drain();
        while !pred(self) {
            let Some(t) = self.next_time().filter(|t| *t <= until) else {
                panic!("condition not reached within {max:?}");
            };
            self.step_to(t);
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let wire = self.wire.keys().next().map(|(t, _)| *t);
        let server = self.server_up.then(|| self.server.poll_timeout()).flatten();
        let clients = self.peers.iter().filter_map(|p| p.client.poll_timeout());
        wire.into_iter().chain(server).chain(clients).min()
    }

    fn step_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
        while let Some(entry) = self.wire.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let delivery = entry.remove();
            self.deliver(delivery);
            self.drain();
        }
        if self.server_up {
            self.server.handle_timeout(self.now);
        }
        for p in &mut self.peers {
            p.client.handle_timeout(self.now);
        }
        self.drain();
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::ToServer(conn, text) => self.server.handle_text(conn, &text, now),
            Delivery::CloseToServer(conn) => {
                let cause = server::CloseCause::Remote { code: None };
                self.server.handle_closed(conn, cause, now);
            }
            Delivery::ToClient(p, attempt, text) => {
                self.peers[p].client.handle_text(attempt, &text, now);
            }
            Delivery::CloseToClient(p, attempt, code) => {
                if self.peers[p].socket.map(|(a, _)| a) == Some(attempt) {
                    self.peers[p].socket = None;
                }
                let cause = CloseCause::Remote { code };
                self.peers[p].client.handle_closed(attempt, cause, now);
            }
        }
    }

    fn send(&mut self, delivery: Delivery) {
        self.seq += 1;
        self.wire.insert((self.now + LATENCY, self.seq), delivery);
    }

    /// Drains every machine until nothing is left, routing outputs.
    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(out) = self.server.poll_output() {
                progress = true;
                self.on_server_output(out);
            }
            for p in 0..self.peers.len() {
                while let Some(out) = self.peers[p].client.poll_output() {
                    progress = true;
                    self.peers[p].log.push(out.clone());
                    self.on_client_output(p, out);
                }
            }
            if !progress {
                break;
            }
        }
        for p in &self.peers {
            if let Some(t) = p.client.poll_timeout() {
                assert!(t > self.now, "client deadline in the past after a drain");
            }
        }
    }

    fn on_client_output(&mut self, p: usize, out: ClientOutput) {
        let now = self.now;
        match out {
            ClientOutput::Open { attempt, upgrade } => {
                assert!(
                    self.peers[p].socket.is_none(),
                    "Open while a socket is alive"
                );
                self.peers[p].opens += 1;
                if self.peers[p].partitioned {
                    // The SYN goes nowhere: the attempt hangs until the client gives up.
                    self.peers[p].socket = Some((attempt, None));
                    return;
                }
                if !self.server_up {
                    let cause = OpenFailure::Io("connection refused".into());
                    self.peers[p].client.handle_open_failed(attempt, cause, now);
                    return;
                }
                let conn = self.upgrade(p, &upgrade.request, &upgrade.expected_accept);
                match conn {
                    Ok(conn) => {
                        self.peers[p].socket = Some((attempt, Some(conn)));
                        self.peers[p].client.handle_opened(attempt, now);
                    }
                    Err(why) => {
                        let cause = OpenFailure::Handshake(why);
                        self.peers[p].client.handle_open_failed(attempt, cause, now);
                    }
                }
            }
            ClientOutput::Transmit(frame) => {
                let Some((_, Some(conn))) = self.peers[p].socket else {
                    panic!("transmit without an open socket");
                };
                if !self.peers[p].partitioned {
                    let text = frame.as_text().expect("text").to_owned();
                    self.send(Delivery::ToServer(conn, text));
                }
            }
            ClientOutput::Close(_) => {
                if let Some((_, Some(conn))) = self.peers[p].socket.take() {
                    if !self.peers[p].partitioned {
                        self.send(Delivery::CloseToServer(conn));
                    }
                }
            }
            ClientOutput::Event(e) => self.peers[p].events.push(e),
        }
    }

    /// The whole upgrade through the handshake module, both sides.
    fn upgrade(
        &mut self,
        p: usize,
        request: &[u8],
        expected_accept: &str,
    ) -> Result<ConnectionHandle, String> {
        let limits = self.handshake.limits.clone();
        let Ok(Parsed::Complete { request, .. }) = parse_request(request, &limits) else {
            panic!("the client's upgrade request does not parse");
        };
        let peer: SocketAddr = format!("127.0.0.1:{}", 40_000 + p).parse().unwrap();
        let Decision::Upgrade {
            handshake,
            response,
        } = evaluate(&request, peer, &self.handshake)
        else {
            panic!("the server refused the client's upgrade");
        };
        let parsed = parse_response(&response, expected_accept, &limits);
        assert!(
            matches!(parsed, Ok(ResponseParsed::Complete { .. })),
            "{parsed:?}"
        );
        let conn = self
            .server
            .handle_open(handshake, self.now)
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    fn on_server_output(&mut self, out: Output) {
        match out {
            Output::Http(h) => panic!("no web request was made, got {h:?}"),
            Output::Transmit(t) => {
                let Some(p) = self
                    .peers
                    .iter()
                    .position(|p| p.socket.is_some_and(|(_, c)| c == Some(t.conn)))
                else {
                    return; // the client already dropped this socket
                };
                let Some((attempt, _)) = self.peers[p].socket else {
                    return;
                };
                if self.peers[p].partitioned {
                    // Nothing reaches the client, not even the close.
                    return;
                }
                match t.frame {
                    Frame::Text(text) => {
                        self.send(Delivery::ToClient(p, attempt, text.to_string()));
                    }
                    Frame::Close { code, .. } => {
                        self.send(Delivery::CloseToClient(p, attempt, code));
                    }
                }
            }
            Output::Event(e) => {
                if let Event::ActionRequested {
                    request,
                    action,
                    params,
                    ..
                } = &e
                {
                    let mut fields = Map::new();
                    if action == "echo" {
                        let value = params.get("value").cloned().unwrap_or(Value::Null);
                        fields.insert("echo".into(), value);
                    }
                    let _ = self
                        .server
                        .respond(*request, ActionOutcome::Ok(fields), self.now);
                }
                self.server_events.push(e);
            }
        }
    }
}

fn new_server(seed: u8, now: Instant) -> Server {
    let unix = UNIX_EPOCH + Duration::from_millis(EPOCH_MS);
    let mut server = Server::new(ServerConfig::default(), [seed; 32], now, unix).unwrap();
    server.register_action(ActionSpec::new("echo").input("value", Input::optional()));
    for r in ["defaultRoom", "otherRoom"] {
        server.create_room(room(r)).unwrap();
    }
    server
}

fn config() -> ClientConfig {
    ClientConfig::new("http://127.0.0.1:8080")
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}
