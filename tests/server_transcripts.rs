//! Golden transcripts recorded from a real Actionhero 29.3.5, replayed through the server
//! machine in the simulation harness: every frame the server sends must match the
//! recording byte for byte (volatile values masked), on every connection, in order.

mod sim;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use actionhero_ws::server::ServerConfig;
use actionhero_ws::{ConnectionHandle, Frame};
use sim::Sim;
use support::transcript::{self, Dir, Transcript};

/// How long the replay waits (virtual time) for an expected frame.
const PATIENCE: Duration = Duration::from_secs(5);

fn replay(t: &Transcript) {
    let cfg = &t.header.config;
    let config = ServerConfig {
        ping_interval: Some(Duration::from_millis(cfg.ping_interval_ms)),
        simultaneous_actions: cfg.simultaneous_actions,
        welcome: Some(cfg.welcome.clone()),
        ..ServerConfig::default()
    };
    let mut s = Sim::new(config);
    let rooms: Vec<&str> = cfg.rooms.iter().map(String::as_str).collect();
    s.rooms(&rooms);
    s.files.insert(
        "simple.html".into(),
        "<h1>Actionhero</h1>\nI am a flat file being served to you via the API from ./public/simple.html<br />\n".into(),
    );
    let mut conns: BTreeMap<String, ConnectionHandle> = BTreeMap::new();
    let mut last_ping: BTreeMap<String, String> = BTreeMap::new();
    let null_crash = t.name == "null_frame_crash";
    // Actionhero 29.3.5 answers `documentation` with a TypeError; ours works (README,
    // "Differences from Actionhero").
    let documentation = t.name == "documentation";
    for ev in &t.events {
        let at = s.start + Duration::from_millis(ev.t);
        if at > s.now && ev.dir != Dir::In {
            s.advance(at - s.now);
        }
        match ev.dir {
            Dir::Open => {
                let h = s.open(None);
                conns.insert(ev.conn.clone(), h);
            }
            Dir::Out => {
                let h = conns[&ev.conn];
                match (&ev.text, &ev.binary) {
                    (Some(text), _) if text.starts_with("\"primus::pong::") => {
                        // Answer with the number of the ping this connection got.
                        let ping = last_ping.get(&ev.conn).expect("pong before ping");
                        s.send(h, &format!("\"primus::pong::{ping}\""));
                    }
                    (Some(text), _) => s.send(h, text),
                    (None, Some(bytes)) => s.send_binary(h, bytes),
                    (None, None) => panic!("line {}: out without payload", ev.line),
                }
                if null_crash {
                    // The reference dies here; we answer like any other non-object frame.
                    let f = s.recv_within(h, PATIENCE).expect("answer to null");
                    let v = sim::json(&f);
                    assert_eq!(
                        v["status"],
                        "Error: verb not found or not allowed (undefined)"
                    );
                    assert_eq!(v["data"], serde_json::Value::Null);
                    return;
                }
            }
            Dir::In if documentation && ev.text().contains("TypeError") => {
                let h = conns[&ev.conn];
                let v = sim::json(&s.recv_within(h, PATIENCE).expect("documentation answer"));
                assert_eq!(v["status"], "OK");
                assert!(v["data"]["randomNumber"]["1"].is_object());
            }
            Dir::In => {
                let h = conns[&ev.conn];
                let f = s
                    .recv_within(h, PATIENCE)
                    .unwrap_or_else(|| panic!("{} line {}: nothing arrived", t.name, ev.line));
                let text = f
                    .as_text()
                    .unwrap_or_else(|| panic!("{} line {}: got {f:?}", t.name, ev.line));
                transcript::assert_frame_matches(ev, text);
                if let Some(v) = text.strip_prefix("\"primus::ping::") {
                    last_ping.insert(ev.conn.clone(), v.trim_end_matches('"').to_string());
                }
            }
            Dir::Close => {
                let h = conns[&ev.conn];
                match ev.by.as_deref() {
                    Some("client") => s.close(h),
                    _ => {
                        let f = s.recv_within(h, PATIENCE).expect("server close");
                        let expect_code = match ev.code {
                            Some(1005) => None,
                            other => other,
                        };
                        assert!(
                            matches!(f, Frame::Close { code, .. } if code == expect_code),
                            "{} line {}: want close {:?}, got {f:?}",
                            t.name,
                            ev.line,
                            ev.code
                        );
                    }
                }
            }
            Dir::Silence => {
                let h = conns[&ev.conn];
                s.advance(Duration::from_millis(ev.ms.unwrap_or(0)));
                assert_eq!(
                    s.recv(h),
                    None,
                    "{} line {}: expected silence",
                    t.name,
                    ev.line
                );
            }
        }
    }
    for (name, h) in &conns {
        let left = s.texts(*h);
        assert!(
            left.is_empty(),
            "{}: unexpected frames left on {name}: {left:?}",
            t.name
        );
    }
}

#[test]
fn every_recorded_transcript_replays_byte_exact() {
    let all = transcript::load_all();
    assert!(all.len() >= 26, "transcripts missing: {}", all.len());
    let mut failed = Vec::new();
    for t in &all {
        if std::panic::catch_unwind(|| replay(t)).is_err() {
            failed.push(t.name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "transcripts that did not replay: {failed:?}"
    );
}
