//! A `Server` and a `Client` wired together in memory with a virtual clock: no sockets,
//! no threads, no sleeps. The client connects (the upgrade bytes go through the core's
//! handshake both ways), runs one action and says something in a room.
//!
//! Run with `cargo run --example in_memory`.
#![allow(clippy::disallowed_methods, clippy::print_stdout)] // a demo: real epoch, prints

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use actionhero_ws::client::{Client, ClientConfig, ClientEvent, ClientOutput};
use actionhero_ws::handshake::{evaluate, parse_request, Decision, HandshakeConfig, Parsed};
use actionhero_ws::server::{ActionOutcome, ActionSpec, Event, Output, Server, ServerConfig};
use actionhero_ws::{AttemptId, ConnectionHandle, RoomName};
use serde_json::{json, Map};

fn main() {
    let mut now = Instant::now();
    let unix = SystemTime::now();
    let mut server = Server::new(ServerConfig::default(), [1; 32], now, unix).expect("config");
    server.register_action(ActionSpec::new("hello"));
    server
        .create_room(RoomName::new("lobby").expect("name"))
        .expect("room");
    let mut client = Client::new(
        ClientConfig {
            rooms: vec![RoomName::new("lobby").expect("name")],
            ..ClientConfig::new("http://127.0.0.1:8080")
        },
        [2; 32],
        now,
        unix,
    )
    .expect("config");

    let mut link: Option<(AttemptId, ConnectionHandle)> = None;
    client.connect(now);
    for _ in 0..50 {
        // Client → server.
        while let Some(out) = client.poll_output() {
            match out {
                ClientOutput::Open { attempt, upgrade } => {
                    let Ok(Parsed::Complete { request, .. }) =
                        parse_request(&upgrade.request, &Default::default())
                    else {
                        panic!("bad upgrade request")
                    };
                    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
                    let Decision::Upgrade { handshake, .. } =
                        evaluate(&request, peer, &HandshakeConfig::default())
                    else {
                        panic!("upgrade refused")
                    };
                    let conn = server.handle_open(handshake, now).expect("open");
                    link = Some((attempt, conn));
                    client.handle_opened(attempt, now);
                }
                ClientOutput::Transmit(frame) => {
                    if let (Some((_, conn)), Some(text)) = (link, frame.as_text()) {
                        server.handle_text(conn, text, now);
                    }
                }
                ClientOutput::Close(_) => link = None,
                ClientOutput::Event(e) => {
                    println!("client event: {e:?}");
                    if let ClientEvent::Connected { .. } = e {
                        client.action("hello", Map::new(), now).expect("action");
                        client
                            .say(&RoomName::new("lobby").expect("name"), json!("hi all"), now)
                            .expect("say");
                    }
                }
            }
        }
        // Server → client.
        while let Some(out) = server.poll_output() {
            match out {
                Output::Transmit(t) => {
                    if let (Some((attempt, _)), Some(text)) = (link, t.frame.as_text()) {
                        client.handle_text(attempt, text, now);
                    }
                }
                Output::Event(Event::ActionRequested { request, .. }) => {
                    let mut fields = Map::new();
                    fields.insert("hello".into(), json!("world"));
                    server
                        .respond(request, ActionOutcome::Ok(fields), now)
                        .expect("respond");
                }
                Output::Event(e) => println!("server event: {e:?}"),
                Output::Http(_) => {}
            }
        }
        now += Duration::from_millis(10);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
}
