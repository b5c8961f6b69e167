//! The server's counters ([`Server::stats`]) after a known exchange in the simulation
//! harness, and their Prometheus rendering.

mod sim;

use std::time::Duration;

use actionhero_ws::handshake::HandshakeConfig;
use actionhero_ws::http::WebConfig;
use actionhero_ws::metrics::Metrics;
use actionhero_ws::server::{ServerConfig, ServerStats, UNKNOWN_ACTION};
use actionhero_ws::Frame;
use sim::Sim;

/// Every text frame waiting on every connection, counted and dropped.
fn drain_texts(s: &mut Sim) -> u64 {
    let mut n = 0;
    for frames in s.inbox.values_mut() {
        n += frames
            .drain(..)
            .filter(|f| matches!(f, Frame::Text(_)))
            .count() as u64;
    }
    n
}

fn outcome(stats: &ServerStats, action: &str, outcome: &str) -> u64 {
    stats.actions[action].outcomes[outcome]
}

#[test]
fn counters_follow_a_known_exchange() {
    let config = ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    };
    let mut s = Sim::new(config);
    s.rooms(&["defaultRoom"]);
    s.files.insert("index.html".into(), "<p>hi</p>".into());
    let mut sent = 0;
    let received = std::cell::Cell::new(0);
    let send = |s: &mut Sim, h, text: &str| {
        received.set(received.get() + 1);
        s.send(h, text);
    };

    let a = s.open(None);
    let b = s.open(None);
    // The third connection is over max_connections.
    let third = s.server.handle_open(
        actionhero_ws::handshake::Handshake::for_peer("127.0.0.1:1".parse().unwrap(), None),
        s.now,
    );
    assert!(third.is_err());

    send(&mut s, a, r#"{"event":"roomAdd","room":"defaultRoom"}"#);
    send(&mut s, b, r#"{"event":"roomAdd","room":"defaultRoom"}"#);
    send(
        &mut s,
        a,
        r#"{"event":"say","room":"defaultRoom","message":"hi"}"#,
    );
    for i in 1..=6 {
        let req = format!(
            r#"{{"event":"action","params":{{"action":"sleepTest","sleepDuration":300}},"messageId":{i}}}"#
        );
        send(&mut s, a, &req);
    }
    send(
        &mut s,
        b,
        r#"{"event":"action","params":{"action":"nope"}}"#,
    );
    send(
        &mut s,
        b,
        r#"{"event":"action","params":{"action":"cacheTest"}}"#,
    );
    send(&mut s, b, r#"{"event":"file","file":"index.html"}"#);
    send(&mut s, b, r#"{"event":"file","file":"missing.html"}"#);
    send(&mut s, b, "not json");
    received.set(received.get() + 1);
    s.send_binary(b, b"\x01\x02");

    // Mid-way: five sleeps running, the gauges show it.
    let mid = s.server.stats();
    assert_eq!(mid.actions_running, 5);
    assert_eq!(mid.connections_open, 2);
    assert_eq!(mid.rooms, 1);

    s.advance(Duration::from_millis(300));
    sent += drain_texts(&mut s);
    send(&mut s, b, r#"{"event":"quit"}"#);
    s.close(a);
    sent += drain_texts(&mut s);

    let st = s.server.stats();
    assert_eq!(st.connections_open, 0);
    assert_eq!(st.connections_opened, 2);
    assert_eq!(st.connections_rejected["too_many_connections"], 1);
    assert_eq!(st.connections_rejected["shutting_down"], 0);
    assert_eq!(st.connections_closed["quit"], 1);
    assert_eq!(st.connections_closed["remote_closed"], 1);
    assert_eq!(st.connections_closed["slow_consumer"], 0);
    assert_eq!(st.messages_received, received.get());
    assert_eq!(st.messages_sent, sent);
    assert!(st.bytes_sent > st.messages_sent && st.bytes_received > st.messages_received);
    assert_eq!(st.violations["invalid_json"], 1);
    assert_eq!(st.violations["binary"], 1);
    assert_eq!(st.chat_messages, 1);
    assert_eq!(st.chat_deliveries, 2);
    assert_eq!(st.files["found"], 1);
    assert_eq!(st.files["not_found"], 1);
    assert_eq!(st.actions_running, 0);

    assert_eq!(outcome(&st, "sleepTest", "ok"), 5);
    assert_eq!(outcome(&st, "sleepTest", "too_many_pending"), 1);
    assert_eq!(outcome(&st, "cacheTest", "invalid_params"), 1);
    assert_eq!(outcome(&st, UNKNOWN_ACTION, "unknown_action"), 1);
    let latency = &st.actions["sleepTest"].latency;
    assert_eq!(latency.count(), 5);
    assert_eq!(latency.sum(), Duration::from_millis(1500));
    let cumulative: Vec<(Option<u64>, u64)> = latency.cumulative().collect();
    assert!(cumulative.contains(&(Some(250_000), 0)));
    assert!(cumulative.contains(&(Some(500_000), 5)));
    // Registered actions nobody asked for are listed with zeros.
    assert_eq!(outcome(&st, "randomNumber", "ok"), 0);

    // After a shutdown, new connections are refused as such.
    s.server.shutdown(true, s.now);
    s.drain();
    let late = s.server.handle_open(
        actionhero_ws::handshake::Handshake::for_peer("127.0.0.1:2".parse().unwrap(), None),
        s.now,
    );
    assert!(late.is_err());
    assert_eq!(
        s.server.stats().connections_rejected["shutting_down"],
        1,
        "refusals during shutdown are counted"
    );
}

#[test]
fn prometheus_text_names_the_series_of_the_exchange() {
    let mut s = Sim::new(ServerConfig::default());
    let a = s.open(None);
    for i in 1..=2 {
        let req = format!(
            r#"{{"event":"action","params":{{"action":"sleepTest","sleepDuration":20}},"messageId":{i}}}"#
        );
        s.send(a, &req);
    }
    s.advance(Duration::from_millis(20));
    s.close(a);
    let router = s
        .server
        .router(HandshakeConfig::default(), WebConfig::default(), 0)
        .unwrap();
    let text = Metrics {
        server: s.server.stats(),
        router: router.stats(),
        ..Metrics::default()
    }
    .to_prometheus();
    for line in [
        "# TYPE ahws_connections_opened_total counter",
        "ahws_connections_opened_total 1",
        "ahws_connections_open 0",
        r#"ahws_connections_closed_total{cause="remote_closed"} 1"#,
        r#"ahws_actions_total{action="sleepTest",outcome="ok"} 2"#,
        "# TYPE ahws_action_duration_seconds histogram",
        r#"ahws_action_duration_seconds_bucket{action="sleepTest",le="0.01"} 0"#,
        r#"ahws_action_duration_seconds_bucket{action="sleepTest",le="0.025"} 2"#,
        r#"ahws_action_duration_seconds_bucket{action="sleepTest",le="+Inf"} 2"#,
        r#"ahws_action_duration_seconds_sum{action="sleepTest"} 0.04"#,
        r#"ahws_action_duration_seconds_count{action="sleepTest"} 2"#,
        r#"ahws_handshake_rejections_total{status="400"} 0"#,
        "ahws_outbound_queued_frames 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // Every sample line is `name{labels} value` of a family declared above it.
    let mut declared = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            declared.push(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            declared.iter().any(|f| name == f
                || name.strip_suffix("_bucket") == Some(f)
                || name.strip_suffix("_sum") == Some(f)
                || name.strip_suffix("_count") == Some(f)),
            "{name} has no TYPE line before it"
        );
    }
}
