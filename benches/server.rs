//! Server-machine benchmarks (core only, in memory): the action path against a plain
//! serde_json baseline, `say` into a room of 10 000 members, one heartbeat tick over
//! 100 000 connections.
#![allow(clippy::disallowed_methods)]
// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use actionhero_ws::handshake::Handshake;
use actionhero_ws::server::{ActionOutcome, ActionSpec, Event, Output, Server, ServerConfig};
use actionhero_ws::{ConnectionHandle, RoomName};
use serde_json::{json, Map, Value};

const ACTION: &str = r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#;

fn server(config: ServerConfig) -> (Server, Instant) {
    let now = Instant::now();
    let mut s = Server::new(config, [1; 32], now, SystemTime::now()).unwrap();
    s.register_action(ActionSpec::new("randomNumber"));
    (s, now)
}

fn open(s: &mut Server, n: usize, now: Instant) -> Vec<ConnectionHandle> {
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let hs: Vec<ConnectionHandle> = (0..n)
        .map(|_| s.handle_open(Handshake::for_peer(peer, None), now).unwrap())
        .collect();
    while s.poll_output().is_some() {}
    hs
}

fn response_fields() -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("randomNumber".into(), json!(0.33123645207835817));
    fields.insert(
        "stringRandomNumber".into(),
        json!("Your random number is 0.33123645207835817"),
    );
    fields
}

fn action_path(c: &mut Criterion) {
    let config = ServerConfig {
        welcome: None,
        ping_interval: None,
        ..ServerConfig::default()
    };
    let (mut s, now) = server(config);
    let h = open(&mut s, 1, now)[0];
    let fields = response_fields();
    let mut g = c.benchmark_group("action_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("frame_in_to_frame_out", |b| {
        b.iter(|| {
            s.handle_text(h, black_box(ACTION), now);
            let Some(Output::Event(Event::ActionRequested { request, .. })) = s.poll_output()
            else {
                unreachable!()
            };
            s.respond(request, ActionOutcome::Ok(fields.clone()), now)
                .unwrap();
            black_box(s.poll_output());
        })
    });
    // The baseline: serde_json alone decoding the request and encoding the response.
    g.bench_function("serde_json_baseline", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_str(black_box(ACTION)).unwrap();
            let mut resp = fields.clone();
            resp.insert("context".into(), json!("response"));
            resp.insert("messageId".into(), v["messageId"].clone());
            black_box(serde_json::to_string(&resp).unwrap());
        })
    });
    g.finish();
}

fn say_fanout(c: &mut Criterion) {
    let config = ServerConfig {
        welcome: None,
        ping_interval: None,
        max_connections: 200_000,
        ..ServerConfig::default()
    };
    let (mut s, now) = server(config);
    let room = RoomName::new("big").unwrap();
    s.create_room(room.clone()).unwrap();
    let hs = open(&mut s, 10_000, now);
    for h in &hs {
        s.add_member(*h, &room, now).unwrap();
    }
    while s.poll_output().is_some() {}
    let sender = hs[0];
    let mut g = c.benchmark_group("say");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("room_of_10000", |b| {
        b.iter(|| {
            s.handle_text(
                sender,
                r#"{"event":"say","room":"big","message":"hello","messageId":1}"#,
                now,
            );
            let mut n = 0;
            while let Some(o) = s.poll_output() {
                n += 1;
                let _ = black_box(o);
            }
            assert_eq!(n, 10_001);
        })
    });
    g.finish();
}

fn heartbeat(c: &mut Criterion) {
    let interval = Duration::from_secs(30);
    let config = ServerConfig {
        welcome: None,
        ping_interval: Some(interval),
        max_connections: 200_000,
        ..ServerConfig::default()
    };
    let mut g = c.benchmark_group("heartbeat");
    g.throughput(Throughput::Elements(100_000));
    g.sample_size(10);
    g.bench_function("tick_100000_connections", |b| {
        b.iter_batched(
            || {
                let (mut s, now) = server(config.clone());
                open(&mut s, 100_000, now);
                (s, now)
            },
            |(mut s, now)| {
                let t = now + interval;
                s.handle_timeout(t);
                let mut n = 0;
                while let Some(o) = s.poll_output() {
                    n += 1;
                    let _ = black_box(o);
                }
                assert_eq!(n, 100_000);
                black_box(s.poll_timeout());
                s
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, action_path, say_fanout, heartbeat);
criterion_main!(benches);
