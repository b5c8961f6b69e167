//! UNSTABLE: not public API. Fuzz bodies as plain functions of `&[u8]`, called by the
//! `fuzz/` targets and by `tests/fuzz_seeds.rs`, which replays every committed seed.

/// Drives a [`Server`](crate::server::Server) with an op sequence decoded from `data` and
/// checks its invariants: no panic, no output for a connection after its `Disconnected`,
/// `poll_timeout` never in the past after a drain, room membership symmetric.
#[allow(clippy::disallowed_methods)] // the fuzz body takes one real Instant as its epoch
pub fn server_ops(data: &[u8]) {
    use crate::handshake::Handshake;
    use crate::server::{ActionOutcome, ActionSpec, Event, Output, Server, ServerConfig};
    use crate::RoomName;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    let start = Instant::now();
    let mut now = start;
    let config = ServerConfig {
        ping_interval: Some(Duration::from_millis(1000)),
        max_outbound_queue_per_connection: 64,
        max_rooms_per_connection: 2,
        max_consecutive_violations: 3,
        ..ServerConfig::default()
    };
    let Ok(mut server) = Server::new(config, [3; 32], now, UNIX_EPOCH) else {
        return;
    };
    server.register_action(ActionSpec::new("a"));
    let rooms = ["r0", "r1", "r2"];
    for r in rooms {
        if let Ok(r) = RoomName::new(r) {
            let _ = server.create_room(r);
        }
    }
    let mut live = Vec::new();
    let mut gone = std::collections::BTreeSet::new();
    let mut requests = Vec::new();
    let mut bytes = data.iter().copied();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0) as usize;
        let pick = |live: &Vec<_>| (!live.is_empty()).then(|| live[arg % live.len()]);
        match op % 10 {
            0 => {
                if let Ok(h) = server.handle_open(Handshake::for_peer(peer, None), now) {
                    live.push(h);
                }
            }
            1 => {
                if let Some(h) = pick(&live) {
                    server.handle_closed(h, crate::server::CloseCause::Transport, now);
                }
            }
            2 | 3 => {
                if let Some(h) = pick(&live) {
                    let len = (bytes.next().unwrap_or(0) % 32) as usize;
                    let chunk: Vec<u8> = bytes.by_ref().take(len).collect();
                    match std::str::from_utf8(&chunk) {
                        Ok(t) => server.handle_text(h, t, now),
                        Err(_) => server.handle_binary(h, &chunk, now),
                    }
                }
            }
            4 => {
                if let Some(h) = pick(&live) {
                    let room = rooms[arg % 3];
                    let verb = ["roomAdd", "roomLeave", "roomView", "say"][(arg / 3) % 4];
                    let text = format!(r#"{{"event":"{verb}","room":"{room}","message":"m"}}"#);
                    server.handle_text(h, &text, now);
                }
            }
            5 => {
                if let Some(h) = pick(&live) {
                    server.handle_text(
                        h,
                        r#"{"event":"action","params":{"action":"a"},"messageId":1}"#,
                        now,
                    );
                }
            }
            6 => {
                if !requests.is_empty() {
                    let r = requests.swap_remove(arg % requests.len());
                    let _ = server.respond(r, ActionOutcome::NoResponse, now);
                }
            }
            7 => now += Duration::from_millis(arg as u64 * 20),
            8 => {
                if let Ok(r) = RoomName::new(rooms[arg % 3]) {
                    if arg & 0x80 == 0 {
                        let _ = server.destroy_room(&r, now);
                    } else {
                        let _ = server.create_room(r);
                    }
                }
            }
            _ => {
                if arg % 7 == 0 {
                    server.shutdown(arg % 2 == 0, now);
                } else if let Some(h) = pick(&live) {
                    server.handle_text(h, "\"primus::pong::1\"", now);
                }
            }
        }
        server.handle_timeout(now);
        while let Some(out) = server.poll_output() {
            match out {
                Output::Transmit(t) => {
                    assert!(!gone.contains(&t.conn), "transmit after Disconnected")
                }
                Output::Event(Event::Disconnected { conn, .. }) => {
                    assert!(gone.insert(conn), "two Disconnected for one connection");
                    live.retain(|h| *h != conn);
                }
                Output::Event(Event::ActionRequested { request, .. }) => requests.push(request),
                Output::Event(_) => {}
            }
        }
        if let Some(t) = server.poll_timeout() {
            assert!(t > now, "poll_timeout in the past after a drain");
        }
        for r in rooms {
            for h in server.members(r) {
                let member = server
                    .connection(h)
                    .is_some_and(|c| c.rooms.iter().any(|x| x.as_str() == r));
                assert!(member, "room index and connection disagree");
            }
        }
        for h in &live {
            if let Some(c) = server.connection(*h) {
                for r in c.rooms {
                    assert!(
                        server.members(r.as_str()).contains(h),
                        "connection lists a room it is not in"
                    );
                }
            }
        }
    }
}
