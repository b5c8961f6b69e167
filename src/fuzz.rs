//! UNSTABLE: not public API. Fuzz bodies as plain functions of `&[u8]`, called by the
//! `fuzz/` targets and by `tests/fuzz_seeds.rs`, which replays every committed seed.

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
/// bytes read as a response; the router's route for the request is carried out and
/// ends in exactly one well-formed HTTP answer.
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
        check_route(request, peer, &head[*consumed..]);
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

/// The router on a parsed request: every route is carried out as an adapter would
/// (files against an empty file system, actions through a server with the sample
/// actions) and must end in exactly one well-formed HTTP answer.
#[allow(clippy::disallowed_methods)] // one real Instant as the epoch
fn check_route(request: &http::Request<()>, peer: SocketAddr, rest: &[u8]) {
    use crate::http::{FileAnswer, RequestContext, Route, Router, WebConfig};
    use crate::server::{ActionOutcome, Event, Output, Server, ServerConfig};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    static ROUTER: OnceLock<Router> = OnceLock::new();
    let router = ROUTER.get_or_init(|| {
        let web = WebConfig {
            public_dir: Some("/srv/public".into()),
            max_body_len: 4096,
            ..WebConfig::default()
        };
        Router::new(HandshakeConfig::default(), web, 1_795_610_439_000).expect("default router")
    });
    let ctx = RequestContext {
        peer,
        now_ms: 1_795_610_439_000,
        entropy: [7; 16],
    };
    let well_formed = |r: &crate::http::HttpResponse| {
        let bytes = r.to_bytes();
        assert!(bytes.starts_with(b"HTTP/1.1 "));
        assert!(bytes.windows(4).any(|w| w == b"\r\n\r\n"));
    };
    match router.route(request, &ctx) {
        Route::Upgrade { response, .. } => assert!(response.starts_with(b"HTTP/1.1 101 ")),
        Route::Respond(r) => well_formed(&r),
        Route::File(file) => {
            if let Some(l) = &file.lookup {
                assert!(l.path().starts_with("/srv/public"));
            }
            let FileAnswer::Respond(r) = file.answer(None) else {
                panic!("a missing file must be answered at once")
            };
            assert_eq!(r.status, 404);
            well_formed(&r);
        }
        Route::Action(api) => {
            assert!(api.body_len <= 4096);
            let body = &rest[..api.body_len.min(rest.len())];
            let now = Instant::now(); // virtual epoch
            let anchor = UNIX_EPOCH + Duration::from_millis(1_795_610_439_000);
            let mut server =
                Server::new(ServerConfig::default(), [1; 32], now, anchor).expect("default config");
            for spec in crate::samples::specs() {
                server.register_action(spec);
            }
            let ticket = server.handle_api(api, body, now);
            let mut answers = 0;
            while let Some(out) = server.poll_output() {
                match out {
                    Output::Event(Event::WebActionRequested { request, .. }) => {
                        let _ = server.respond(request, ActionOutcome::Ok(Default::default()), now);
                    }
                    Output::Http(h) => {
                        assert_eq!(h.request, ticket);
                        well_formed(&h.response);
                        answers += 1;
                    }
                    Output::Transmit(_) | Output::Event(_) => {}
                }
            }
            assert_eq!(answers, 1, "one answer per web request");
            assert_eq!(server.pending_web_actions(), 0);
        }
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

/// The room messages of `server_ops` op 4, by verb then room: written out rather than
/// formatted per op.
const ROOM_VERBS: [[&str; 3]; 4] = [
    [
        r#"{"event":"roomAdd","room":"r0","message":"m"}"#,
        r#"{"event":"roomAdd","room":"r1","message":"m"}"#,
        r#"{"event":"roomAdd","room":"r2","message":"m"}"#,
    ],
    [
        r#"{"event":"roomLeave","room":"r0","message":"m"}"#,
        r#"{"event":"roomLeave","room":"r1","message":"m"}"#,
        r#"{"event":"roomLeave","room":"r2","message":"m"}"#,
    ],
    [
        r#"{"event":"roomView","room":"r0","message":"m"}"#,
        r#"{"event":"roomView","room":"r1","message":"m"}"#,
        r#"{"event":"roomView","room":"r2","message":"m"}"#,
    ],
    [
        r#"{"event":"say","room":"r0","message":"m"}"#,
        r#"{"event":"say","room":"r1","message":"m"}"#,
        r#"{"event":"say","room":"r2","message":"m"}"#,
    ],
];

/// Drives a [`Server`](crate::server::Server) with an op sequence decoded from `data` and
/// checks its invariants: no panic, no output for a connection after its `Disconnected`,
/// `poll_timeout` never in the past after a drain, room membership symmetric.
#[allow(clippy::disallowed_methods)] // the fuzz body takes one real Instant as its epoch
pub fn server_ops(data: &[u8]) {
    use crate::handshake::Handshake;
    use crate::server::{ActionOutcome, ActionSpec, Event, Output, Server, ServerConfig};
    use crate::RoomName;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    let start = Instant::now(); // virtual epoch
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
    // Built once: every open is from the same peer (formatting its address per open
    // showed in the profile).
    let handshake = Handshake::for_peer(std::net::SocketAddr::from(([127, 0, 0, 1], 1)), None);
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0) as usize;
        let pick = |live: &Vec<_>| (!live.is_empty()).then(|| live[arg % live.len()]);
        match op % 10 {
            0 => {
                if let Ok(h) = server.handle_open(handshake.clone(), now) {
                    live.push(h);
                }
            }
            1 => {
                if let Some(h) = pick(&live) {
                    server.handle_closed(h, crate::CloseCause::Error("reset".into()), now);
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
                    server.handle_text(h, ROOM_VERBS[(arg / 3) % 4][arg % 3], now);
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
                Output::Event(_) | Output::Http(_) => {}
            }
        }
        if let Some(t) = server.poll_timeout() {
            assert!(t > now, "poll_timeout in the past after a drain");
        }
        // Room membership symmetric, with each room's members read once per step (not
        // once per connection and room).
        let members = rooms.map(|r| server.members(r));
        for (r, hs) in rooms.iter().zip(&members) {
            for h in hs {
                let member = server
                    .connection(*h)
                    .is_some_and(|c| c.rooms.iter().any(|x| x.as_str() == *r));
                assert!(member, "room index and connection disagree");
            }
        }
        for h in &live {
            if let Some(c) = server.connection(*h) {
                for r in c.rooms {
                    let listed = match rooms.iter().position(|x| *x == r.as_str()) {
                        Some(i) => members[i].contains(h),
                        None => server.members(r.as_str()).contains(h),
                    };
                    assert!(listed, "connection lists a room it is not in");
                }
            }
        }
    }
}

/// The client machine driven by an op sequence decoded from bytes, against a tiny fake
/// server: each op byte picks an application command, a server action (accept or
/// refuse the open, answer a pending request in any order, ping, drop,
/// `primus::server::close`, garbage text) or a time step; the next byte is its argument.
///
/// Invariants (as `tests/client_model.rs`): never panics; every request issued ends in
/// exactly one outcome (checked after a final `disconnect`); after every open the first
/// frames are `roomAdd` for exactly the remembered rooms, then `detailsView`, and no
/// application frame goes out before that is answered; the offline queue stays within
/// capacity; frames go out only on an open socket and an `Open` never overlaps one;
/// after a drain `poll_timeout` is `None` or later than `now`.
#[allow(clippy::disallowed_methods)] // the fuzz body takes one real Instant as its epoch
pub fn client_ops(data: &[u8]) {
    use crate::client::{
        Client, ClientConfig, ClientEvent, ClientOutput, CloseCause, OpenFailure, QueuePolicy,
    };
    use crate::wire::request::{decode, ClientFrame, Verb};
    use crate::wire::{primus, reply};
    use crate::{AttemptId, MessageId, RoomName};
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant, UNIX_EPOCH};

    struct Conn {
        attempt: AttemptId,
        expect: Vec<String>,
        rejoined: usize,
        details: Option<MessageId>,
        configured: bool,
        joined: BTreeSet<String>,
        /// Answers not delivered yet, each with whether it answers `detailsView`.
        answers: Vec<(String, bool)>,
    }

    let rooms = ["r0", "r1", "r2"];
    let mut bytes = data.iter().copied();
    let setup = bytes.next().unwrap_or(0);
    let cap = usize::from(setup % 4);
    let config = ClientConfig {
        max_offline_queue: cap,
        queue_policy: if setup & 4 == 0 {
            QueuePolicy::DropOldest
        } else {
            QueuePolicy::RejectNew
        },
        max_pending_requests: 6,
        ping_timeout: Some(Duration::from_secs(2)),
        request_timeout: Duration::from_secs(1),
        rooms: vec![RoomName::new("r0").unwrap()],
        reconnect: crate::client::ReconnectConfig {
            retries: u32::from(setup >> 4) % 4,
            ..crate::client::ReconnectConfig::default()
        },
        ..ClientConfig::default()
    };
    let mut now = Instant::now(); // virtual epoch
    let mut client = Client::new(config, [setup; 32], now, UNIX_EPOCH).unwrap();
    let mut pending_open: Option<AttemptId> = None;
    let mut conn: Option<Conn> = None;
    let room_names = rooms.map(|r| RoomName::new(r).unwrap());
    let mut issued = BTreeSet::new();
    let mut outcomes: BTreeMap<MessageId, u32> = BTreeMap::new();

    let drain = |client: &mut Client,
                 now: Instant,
                 pending_open: &mut Option<AttemptId>,
                 conn: &mut Option<Conn>,
                 outcomes: &mut BTreeMap<MessageId, u32>| {
        while let Some(out) = client.poll_output() {
            match out {
                ClientOutput::Open { attempt, .. } => {
                    assert!(pending_open.is_none() && conn.is_none(), "overlapping Open");
                    *pending_open = Some(attempt);
                }
                ClientOutput::Close(_) => {
                    *pending_open = None;
                    *conn = None;
                }
                ClientOutput::Transmit(frame) => {
                    let c = conn.as_mut().expect("transmit without an open socket");
                    let Ok(ClientFrame::Request(req)) = decode(frame.as_text().unwrap()) else {
                        continue; // a pong
                    };
                    let id = req.message_id.clone().unwrap();
                    let room = req.room.as_ref().and_then(|r| r.as_str()).unwrap_or("");
                    let room = room.to_owned();
                    if c.rejoined < c.expect.len() {
                        assert_eq!(req.verb, Verb::RoomAdd);
                        assert_eq!(room, c.expect[c.rejoined]);
                        c.rejoined += 1;
                    } else if c.details.is_none() {
                        assert_eq!(req.verb, Verb::DetailsView);
                        c.details = Some(id.clone());
                    } else {
                        assert!(c.configured, "application frame before configure");
                    }
                    let ok = reply::encode_verb_ok(Some(&serde_json::json!(true)), &id);
                    let answer = match req.verb {
                        Verb::RoomAdd if room == "r2" => reply::encode_verb_error(
                            "Error: room does not exist",
                            &serde_json::json!({}),
                            &id,
                        ),
                        Verb::RoomAdd => {
                            c.joined.insert(room);
                            ok
                        }
                        Verb::RoomLeave => {
                            c.joined.remove(&room);
                            ok
                        }
                        Verb::DetailsView => {
                            let data = serde_json::json!({"id": "c", "rooms": []});
                            reply::encode_verb_ok(Some(&data), &id)
                        }
                        _ => ok,
                    };
                    let answers_details = c.details.as_ref() == Some(&id);
                    c.answers.push((answer, answers_details));
                }
                ClientOutput::Event(e) => match e {
                    ClientEvent::Response { id, .. } | ClientEvent::RequestFailed { id, .. } => {
                        *outcomes.entry(id).or_default() += 1;
                    }
                    ClientEvent::Connected { rooms, .. } => {
                        let c = conn.as_ref().expect("Connected without a socket");
                        let got: BTreeSet<String> = rooms.iter().map(|r| r.to_string()).collect();
                        assert_eq!(got, c.joined);
                    }
                    _ => {}
                },
            }
        }
        if let Some(t) = client.poll_timeout() {
            assert!(t > now, "poll_timeout in the past");
        }
        assert!(client.queued_requests() <= cap, "queue over capacity");
    };

    while let Some(op) = bytes.next() {
        let arg = usize::from(bytes.next().unwrap_or(0));
        let room = room_names[arg % 3].clone();
        let issued_id = match op % 16 {
            0 => {
                client.connect(now);
                None
            }
            1 => {
                client.disconnect(now);
                None
            }
            2 => client.action("a", serde_json::Map::new(), now).ok(),
            3 => client.room_add(room, now).ok(),
            4 => client.room_leave(&room, now).ok(),
            5 => client.say(&room, serde_json::json!("m"), now).ok(),
            6 => {
                if let Some(attempt) = pending_open.take() {
                    let expect = client.rooms().map(|r| r.to_string()).collect();
                    conn = Some(Conn {
                        attempt,
                        expect,
                        rejoined: 0,
                        details: None,
                        configured: false,
                        joined: BTreeSet::new(),
                        answers: Vec::new(),
                    });
                    client.handle_opened(attempt, now);
                }
                None
            }
            7 => {
                if let Some(attempt) = pending_open.take() {
                    client.handle_open_failed(attempt, OpenFailure::Io("refused".into()), now);
                }
                None
            }
            8 | 9 => {
                if let Some(c) = conn.as_mut().filter(|c| !c.answers.is_empty()) {
                    let (text, answers_details) = c.answers.remove(arg % c.answers.len());
                    if answers_details {
                        c.configured = true;
                    }
                    let attempt = c.attempt;
                    client.handle_text(attempt, &text, now);
                }
                None
            }
            10 => {
                if let Some(c) = &conn {
                    client.handle_text(c.attempt, &primus::encode_ping(arg as u64), now);
                }
                None
            }
            11 => {
                if let Some(c) = conn.take() {
                    let cause = CloseCause::Remote { code: None };
                    client.handle_closed(c.attempt, cause, now);
                }
                None
            }
            12 => {
                if let Some(c) = conn.take() {
                    client.handle_text(c.attempt, primus::SERVER_CLOSE, now);
                    client.handle_closed(c.attempt, CloseCause::Remote { code: None }, now);
                }
                None
            }
            13 => {
                if let Some(c) = &conn {
                    let len = arg % 32;
                    let chunk: Vec<u8> = bytes.by_ref().take(len).collect();
                    let text = String::from_utf8_lossy(&chunk).into_owned();
                    client.handle_text(c.attempt, &text, now);
                }
                None
            }
            14 => client.details_view(now).ok(),
            _ => {
                now += Duration::from_millis(arg as u64 * 40);
                client.handle_timeout(now);
                None
            }
        };
        if let Some(id) = issued_id {
            assert!(issued.insert(id), "message id reused");
        }
        drain(
            &mut client,
            now,
            &mut pending_open,
            &mut conn,
            &mut outcomes,
        );
    }
    client.disconnect(now);
    drain(
        &mut client,
        now,
        &mut pending_open,
        &mut conn,
        &mut outcomes,
    );
    for id in &issued {
        assert_eq!(
            outcomes.get(id),
            Some(&1),
            "request {id}: not exactly one outcome"
        );
    }
    assert_eq!(
        outcomes.len(),
        issued.len(),
        "outcome for an unknown request"
    );
}

#[cfg(test)]
mod client_ops_tests {
    /// Hand-written seeds plus a few thousand pseudo-random op strings.
    #[test]
    fn client_ops_seeds_and_random_inputs() {
        // connect, accept, answer the rejoin and details, action, answer, ping, drop,
        // wait for the retry, accept, answer everything.
        let happy: &[u8] = &[
            1, 0, 0, 6, 0, 8, 0, 8, 0, 2, 0, 8, 0, 10, 5, 11, 0, 15, 20, 6, 0, 8, 0, 8, 0,
        ];
        let queued: &[u8] = &[3, 2, 0, 14, 0, 5, 1, 0, 0, 7, 0, 15, 13, 6, 0, 9, 1, 9, 0];
        let closing: &[u8] = &[0, 0, 0, 6, 0, 8, 0, 8, 0, 12, 0, 2, 0, 0, 0, 15, 255];
        for seed in [happy, queued, closing, &[], &[0]] {
            super::client_ops(seed);
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let len = (x % 160) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            super::client_ops(&data);
        }
    }
}

use crate::ids::MessageId;
use crate::wire::js;
use crate::wire::primus;
use crate::wire::reply::{self, ServerFrame};
use crate::wire::request::{self, ClientFrame, ClientRequest, Incoming, Request, Verb};

/// Server side of the wire codec: `data` is one inbound client message (text when it is
/// UTF-8, else a binary frame). Decoding gives a frame or `InvalidJson` and never
/// panics; every decoded request can be taken apart (`words`, `action_params`, `file`)
/// and answered, and the answers the server encodes read back on the client side as
/// what was sent. A client-shaped request re-encodes to one that decodes the same.
pub fn wire_server(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_incoming(text);
    }
    let req = match std::str::from_utf8(data) {
        Ok(text) => match request::decode(text) {
            Err(_) => {
                assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
                return;
            }
            Ok(ClientFrame::Pong(v)) => {
                // The server only marks the spark alive; a pong must re-encode as one.
                let again = primus::encode_pong(&v);
                assert!(matches!(request::decode(&again), Ok(ClientFrame::Pong(_))));
                return;
            }
            Ok(ClientFrame::IdRequest) => {
                let answer = primus::encode_id("V1StGXR8_Z5jdHi6B-myT");
                let back = reply::decode(&answer);
                assert_eq!(back, Ok(ServerFrame::Id("V1StGXR8_Z5jdHi6B-myT".into())));
                return;
            }
            Ok(ClientFrame::Request(req)) => {
                // The object fast path accepts only JSON, and agrees with the general path.
                let value = serde_json::from_str::<serde_json::Value>(text)
                    .expect("decode accepted text that is not JSON");
                assert_eq!(
                    request::decode_value(value),
                    ClientFrame::Request(req.clone())
                );
                req
            }
        },
        Err(_) => request::decode_binary(data),
    };
    check_request(&req);
}

/// The server machine's decode gives what `decode` gives; for an action request, the
/// id and the params (key order included) `decode` and `take_action_params` give.
fn check_incoming(text: &str) {
    match (request::decode_incoming(text), request::decode(text)) {
        (Ok(Incoming::Action { message_id, params }), Ok(ClientFrame::Request(mut req))) => {
            assert_eq!(req.verb, Verb::Action);
            assert_eq!(req.message_id, message_id);
            assert_eq!(
                format!("{:?}", req.take_action_params()),
                format!("{params:?}")
            );
        }
        (Ok(Incoming::Frame(a)), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("decode_incoming gave {a:?}, decode {b:?}"),
    }
}

fn check_request(req: &Request) {
    // What the server machine reads from a request.
    let words: Vec<String> = req.words().into_iter().map(js::js_string).collect();
    let params = req.action_params();
    let _ = req.file();
    let id = req
        .message_id
        .clone()
        .unwrap_or_else(|| MessageId::from("110ec58a-a0f2-4ac4-8393-c866d813b8d1"));

    // A verb error echoes the remnant; the client reads back the id and the remnant.
    let error = format!("Error: verb not found or not allowed ({})", req.verb.name());
    let text = reply::encode_verb_error(&error, &req.remnant, &id);
    match server_round_trip(&text) {
        ServerFrame::Response { message_id, body } => {
            assert!(message_id.is_some_and(|m| js::same_value(&m.to_json(), &id.to_json())));
            assert!(js::same_value(&body["data"], &req.remnant));
            assert_eq!(body["error"].as_str(), Some(error.as_str()));
        }
        other => panic!("verb error decoded as {other:?}"),
    }

    // An action answer built from the params (an action may return anything).
    let text = reply::encode_action_response(&params, Some("boom"), &id);
    server_round_trip(&text);

    // The say broadcast: room = first word, message = the other words joined.
    if let Some((room, rest)) = words.split_first() {
        let message = rest.join(" ");
        let payload = reply::say_payload(message.clone().into(), room, "u", 1);
        match server_round_trip(&reply::encode_message(&payload, None)) {
            ServerFrame::Say(body) => {
                assert_eq!(body["message"].as_str(), Some(message.as_str()));
                assert_eq!(body["room"].as_str(), Some(room.as_str()));
            }
            other => panic!("chat message decoded as {other:?}"),
        }
    }

    // A request the real client could have sent survives encode → decode.
    if let Some(cr) = ClientRequest::from_request(req) {
        let text = request::encode(&cr);
        let Ok(ClientFrame::Request(again)) = request::decode(&text) else {
            panic!("client request does not decode: {text}")
        };
        assert_eq!(again.verb, req.verb);
        let cr2 = ClientRequest::from_request(&again).expect("still client-shaped");
        assert_eq!(request::encode(&cr2), text);
    }
}

/// Decodes a frame the crate encoded; it must re-encode to the same bytes.
fn server_round_trip(text: &str) -> ServerFrame {
    let frame = match reply::decode(text) {
        Ok(f) => f,
        Err(e) => panic!("{e}: the crate wrote invalid JSON: {text}"),
    };
    assert_eq!(reply::encode(&frame), text);
    frame
}

/// Client side of the wire codec: `data` is one inbound server message. Decoding gives
/// a frame or `InvalidJson` and never panics; a decoded frame encodes to text that
/// decodes to the same frame, and re-encodes to the same bytes.
///
/// "The same" is JavaScript's notion ([`js::same_value`]): `serde_json` keeps `1.0`
/// and `1` apart while JavaScript, and so the wire, does not; the encoder writes the
/// JavaScript form, so the strict `==` holds from the first re-encoding on.
pub fn wire_client(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // Primus reads binary frames as no JSON value at all.
    };
    let Ok(frame) = reply::decode(text) else {
        assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        return;
    };
    let encoded = reply::encode(&frame);
    let again = match reply::decode(&encoded) {
        Ok(f) => f,
        Err(e) => panic!("{e}: encode wrote invalid JSON: {encoded}"),
    };
    assert!(
        same_frame(&frame, &again),
        "{frame:?}\n{encoded}\n{again:?}"
    );
    assert_eq!(reply::encode(&again), encoded);
    assert_eq!(reply::decode(&encoded), Ok(again.clone()));
    if let ServerFrame::Ping(v) = &frame {
        let pong = request::encode_pong(v);
        assert!(matches!(request::decode(&pong), Ok(ClientFrame::Pong(_))));
    }
}

fn same_frame(a: &ServerFrame, b: &ServerFrame) -> bool {
    use ServerFrame as F;
    match (a, b) {
        (
            F::Response {
                message_id: x,
                body: bx,
            },
            F::Response {
                message_id: y,
                body: by,
            },
        ) => {
            let id = |m: &Option<MessageId>| m.as_ref().map(MessageId::to_json);
            let ids_same = match (id(x), id(y)) {
                (Some(x), Some(y)) => js::same_value(&x, &y),
                (x, y) => x == y,
            };
            ids_same && js::same_object(bx, by)
        }
        (F::Say(x), F::Say(y)) | (F::Alert(x), F::Alert(y)) | (F::Api(x), F::Api(y)) => {
            js::same_object(x, y)
        }
        (F::Other(x), F::Other(y)) => js::same_value(x, y),
        _ => a == b,
    }
}

/// The cluster channel codec: `data` is one payload received on the Redis channel (the
/// token is `recorded-token`, as in `tests/fixtures/cluster/`, whose recordings are
/// the seeds). Decoding never panics; a payload (of two bytes or more) one byte over the limit is
/// `TooLarge`; a decoded message encodes to text that decodes to the same message (as
/// JavaScript compares values, see [`wire_client`]) and re-encodes to the same bytes,
/// which another cluster's node ignores. A member record read from the same bytes
/// round-trips the same way, and the derived views (`method`, `args_list`,
/// `say_payload`) never panic.
pub fn cluster_channel(data: &[u8]) {
    use crate::cluster::{ChannelCodec, ChannelConfig, ChannelMessage, Ignored, MemberRecord};
    use std::sync::OnceLock;

    static CODECS: OnceLock<(ChannelCodec, ChannelCodec)> = OnceLock::new();
    let (codec, other) = CODECS.get_or_init(|| {
        let ours = ChannelConfig {
            server_token: "recorded-token".into(),
            ..ChannelConfig::default()
        };
        (
            ChannelCodec::new(ours).expect("valid config"),
            ChannelCodec::new(ChannelConfig::default()).expect("valid config"),
        )
    });

    let decoded = codec.decode(data);
    if data.len() > 1 {
        let small = ChannelCodec::new(ChannelConfig {
            max_message_len: data.len() - 1,
            ..codec.config().clone()
        })
        .expect("valid config");
        assert_eq!(
            small.decode(data),
            Err(Ignored::TooLarge {
                len: data.len(),
                max: data.len() - 1
            })
        );
    }
    if let Ok(message) = &decoded {
        let encoded = codec.encode(message);
        let again = match codec.decode(encoded.as_bytes()) {
            Ok(m) => m,
            Err(e) => panic!("{e}: encode wrote something we ignore: {encoded}"),
        };
        assert!(
            same_channel_message(message, &again),
            "{message:?}\n{encoded}\n{again:?}"
        );
        assert_eq!(codec.encode(&again), encoded);
        assert_eq!(other.decode(encoded.as_bytes()), Err(Ignored::ForeignToken));
        match message {
            ChannelMessage::Chat(c) => {
                let _ = c.say_payload();
            }
            ChannelMessage::Call(c) => {
                let _ = (c.method(), c.args_list(), c.target_connection());
            }
            ChannelMessage::Response(_) => {}
        }
    }
    if let Ok(record) = MemberRecord::decode(data, usize::MAX) {
        let encoded = record.encode();
        assert_eq!(
            MemberRecord::decode(encoded.as_bytes(), usize::MAX),
            Ok(record)
        );
    }
}

fn same_channel_message(
    a: &crate::cluster::ChannelMessage,
    b: &crate::cluster::ChannelMessage,
) -> bool {
    use crate::cluster::ChannelMessage as M;
    match (a, b) {
        (M::Chat(x), M::Chat(y)) => {
            (&x.server_id, &x.room, &x.from, x.sent_at)
                == (&y.server_id, &y.room, &y.from, y.sent_at)
                && js::same_value(&x.message, &y.message)
        }
        (M::Call(x), M::Call(y)) => {
            (&x.server_id, &x.message_id, &x.method, &x.connection_id)
                == (&y.server_id, &y.message_id, &y.method, &y.connection_id)
                && js::same_value(&x.args, &y.args)
        }
        (M::Response(x), M::Response(y)) => {
            (&x.server_id, &x.message_id) == (&y.server_id, &y.message_id)
                && match (&x.response, &y.response) {
                    (Some(x), Some(y)) => js::same_value(x, y),
                    (x, y) => x.is_none() && y.is_none(),
                }
        }
        _ => false,
    }
}
