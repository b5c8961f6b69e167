//! UNSTABLE: not public API. Fuzz bodies as plain functions of `&[u8]`, called by the
//! `fuzz/` targets and by `tests/fuzz_seeds.rs`, which replays every committed seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::handshake::{
    evaluate, parse_request, parse_response, sec_websocket_accept, Decision, HandshakeConfig,
    HandshakeLimits, Parsed, ResponseParsed,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The handshake parsers on arbitrary bytes: byte 0 picks the split point, the limits,
/// the peer and the config; the rest is the head.
///
/// Invariants: never panics; a prefix gives `NeedMore` or the whole input's result;
/// `consumed` stays within the input and the byte limit; `evaluate` is deterministic
/// and its response is a complete HTTP response that our own client check accepts
/// (101) or reports with its status; `parse_response` behaves the same way on the
/// bytes read as a response.
pub fn handshake(data: &[u8]) {
    let Some((&ctl, head)) = data.split_first() else {
        return;
    };
    let limits = if ctl & 1 == 0 {
        HandshakeLimits::default()
    } else {
        HandshakeLimits {
            max_header_bytes: 256,
            max_headers: 4,
        }
    };
    let split = usize::from(ctl) * head.len() / 255;

    let whole = parse_request(head, &limits);
    let first = parse_request(&head[..split], &limits);
    if first != Ok(Parsed::NeedMore) {
        assert_eq!(first, whole, "split at {split}");
    }
    if let Ok(Parsed::Complete { request, consumed }) = &whole {
        assert!(*consumed <= head.len() && *consumed <= limits.max_header_bytes);
        let peer = fuzz_peer(ctl, head.len());
        let config = fuzz_config(ctl, limits.clone());
        let decision = evaluate(request, peer, &config);
        assert_eq!(decision, evaluate(request, peer, &config));
        check_decision(request, &decision);
    }

    let accept = sec_websocket_accept("dGhlIHNhbXBsZSBub25jZQ==");
    let whole = parse_response(head, &accept, &limits);
    let first = parse_response(&head[..split], &accept, &limits);
    if first != Ok(ResponseParsed::NeedMore) {
        assert_eq!(first, whole, "split at {split}");
    }
    if let Ok(ResponseParsed::Complete { consumed }) = whole {
        assert!(consumed <= head.len() && consumed <= limits.max_header_bytes);
    }
}

fn fuzz_peer(ctl: u8, len: usize) -> SocketAddr {
    let port = u16::try_from(len % 65536).unwrap_or(0);
    let ip = match (ctl >> 1) % 4 {
        0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        1 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
        2 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
    };
    SocketAddr::new(ip, port)
}

fn fuzz_config(ctl: u8, limits: HandshakeLimits) -> HandshakeConfig {
    let mut config = HandshakeConfig {
        limits,
        fingerprint_from_cookie: ctl & 0x08 != 0,
        ..HandshakeConfig::default()
    };
    if ctl & 0x10 != 0 {
        config = config.trust_any_proxy();
    }
    if ctl & 0x20 != 0 {
        config.allowed_origins = Some(vec!["https://ok.example".into()]);
    }
    if ctl & 0x40 != 0 {
        config.pathname = "p".into();
    }
    config
}

fn check_decision(request: &http::Request<()>, decision: &Decision) {
    let generous = HandshakeLimits {
        max_header_bytes: 1 << 20,
        max_headers: 64,
    };
    match decision {
        Decision::Upgrade {
            handshake,
            response,
        } => {
            let key = request
                .headers()
                .get("sec-websocket-key")
                .and_then(|k| k.to_str().ok())
                .unwrap()
                .trim();
            let accept = sec_websocket_accept(key);
            assert_eq!(
                parse_response(response, &accept, &generous),
                Ok(ResponseParsed::Complete {
                    consumed: response.len()
                })
            );
            assert!(handshake.remote_ip.parse::<IpAddr>().is_ok());
            assert!(handshake
                .fingerprint
                .as_ref()
                .map_or(true, |f| !f.is_empty()));
        }
        Decision::Respond { status, response } => {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Response::new(&mut headers);
            let Ok(httparse::Status::Complete(len)) = parsed.parse(response) else {
                panic!("incomplete response");
            };
            assert_eq!(parsed.code, Some(*status));
            let declared: usize = parsed
                .headers
                .iter()
                .find(|h| h.name == "Content-Length")
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .unwrap();
            let body = response.len() - len;
            assert!(body == declared || (body == 0 && request.method() == http::Method::HEAD));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn handshake_seeds_do_not_panic() {
        let upgrade = b"GET /primus?sessionID=abc&_primuscb=Nx1-0 HTTP/1.1\r\nHost: h\r\n\
                        Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: [::1]\r\n\
                        Cookie: sessionID=c\r\nOrigin: https://ok.example\r\n\r\n\x81\x00";
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let inputs: [&[u8]; 6] = [
            upgrade,
            response,
            b"GET /primus/spec HTTP/1.1\r\n\r\n",
            b"HEAD /p/spec HTTP/1.1\r\n\r\n",
            b"GET /api HTTP/1.0\r\n\r\n",
            b"\r\n\r\nGARBAGE",
        ];
        for input in inputs {
            for ctl in 0..=255u8 {
                let mut data = vec![ctl];
                data.extend_from_slice(input);
                super::handshake(&data);
            }
        }
        super::handshake(b"");
        super::handshake(&[7]);
    }
}

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
