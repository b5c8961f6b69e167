//! Unit tests of the client machine through its public surface, with virtual time.

use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::*;
use crate::time::Rng;

// ---- lifecycle and handshake ------------------------------------------------------------

#[test]
fn connect_emits_open_with_fingerprint_and_cache_buster() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.fingerprint = Some("abc".into());
    let mut h = Harness::with_config(config);
    h.c.connect(h.now);
    let out = h.drain();
    assert_eq!(out.len(), 1);
    let ClientOutput::Open { attempt, upgrade } = &out[0] else {
        panic!("{out:?}")
    };
    let handshake::ClientUpgrade {
        url,
        host,
        port,
        tls,
        request,
        expected_accept,
    } = upgrade;
    assert_eq!(*attempt, AttemptId(1));
    // epoch 1795615025305 ms in yeast's base 64.
    let cb = handshake::yeast(1_795_615_025_305, None);
    assert_eq!(
        url,
        &format!("ws://127.0.0.1:8080/primus?sessionID=abc&_primuscb={cb}")
    );
    assert_eq!((host.as_str(), *port, *tls), ("127.0.0.1", 8080, false));
    let head = String::from_utf8(request.clone()).unwrap();
    assert!(head.starts_with(&format!(
        "GET /primus?sessionID=abc&_primuscb={cb} HTTP/1.1\r\n"
    )));
    // The key comes from the seeded RNG, and the accept value matches it.
    let key = Rng::new(SEED).bytes16();
    let key_b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key);
    assert!(
        head.contains(&format!("Sec-WebSocket-Key: {key_b64}\r\n")),
        "{head}"
    );
    assert_eq!(expected_accept, &handshake::sec_websocket_accept(&key_b64));
    assert_eq!(
        h.c.state(),
        ClientState::Connecting {
            attempt: AttemptId(1)
        }
    );
    assert_eq!(h.c.timeout_reason(), Some(TimerKind::Connect));
    assert_eq!(
        h.c.poll_timeout(),
        Some(h.now + ClientConfig::DEFAULT_CONNECT_TIMEOUT)
    );
    // connect() while connecting does nothing.
    h.c.connect(h.now);
    assert!(h.drain().is_empty());
}

#[test]
fn two_opens_in_one_millisecond_get_distinct_cache_busters() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.reconnect.min = Duration::from_millis(1);
    let mut h = Harness::with_config(config);
    h.c.connect(h.now);
    let first = open_url(&h.drain());
    h.c.disconnect(h.now);
    h.c.connect(h.now);
    let second = open_url(&h.drain());
    assert_ne!(first, second);
    assert!(second.ends_with(".0"), "{second}");
}

#[test]
fn invalid_urls_are_config_errors() {
    for (url, field) in [("ftp://x", "url"), ("not a url", "url"), ("http://", "url")] {
        let err = Client::new(ClientConfig::new(url), SEED, epoch(), UNIX_EPOCH)
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"));
        assert!(
            matches!(err, ConfigError::InvalidValue { field: f, .. } if f == field),
            "{url}: {err:?}"
        );
    }
}

#[test]
fn uses_tls_is_the_parsed_scheme() {
    for (url, tls) in [
        ("http://x", false),
        ("ws://x/primus", false),
        ("HTTPS://x", true),
        ("wss://x:9", true),
    ] {
        let c = Client::new(ClientConfig::new(url), SEED, epoch(), UNIX_EPOCH).unwrap();
        assert_eq!(c.uses_tls(), tls, "{url}");
    }
}

#[test]
fn stale_attempt_ids_are_ignored() {
    let mut h = Harness::new();
    h.c.connect(h.now);
    h.drain();
    // Attempt 1 times out; attempt 2 starts after the backoff.
    h.advance(ClientConfig::DEFAULT_CONNECT_TIMEOUT);
    let out = h.drain();
    assert!(matches!(out[0], ClientOutput::Close(_)), "{out:?}");
    h.advance(Duration::from_millis(500));
    let out = h.drain();
    let ClientOutput::Open { attempt, .. } = out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(attempt, AttemptId(2));
    // Late completions and messages for attempt 1 change nothing.
    let old = AttemptId(1);
    h.c.handle_opened(old, h.now);
    h.c.handle_text(old, r#""primus::ping::1""#, h.now);
    h.c.handle_open_failed(old, OpenFailure::Io("late".into()), h.now);
    h.c.handle_closed(old, CloseCause::Remote { code: None }, h.now);
    h.c.handle_binary(old, b"abc", h.now);
    assert!(h.drain().is_empty());
    assert_eq!(h.c.state(), ClientState::Connecting { attempt });
    // Text before the socket opened is ignored too.
    h.c.handle_text(attempt, r#""primus::ping::1""#, h.now);
    assert!(h.drain().is_empty());
    h.c.handle_opened(attempt, h.now);
    assert!(matches!(h.c.state(), ClientState::Configuring { .. }));
    // A second open report for the same attempt is ignored.
    h.c.handle_opened(attempt, h.now);
    let frames = h.transmits();
    assert_eq!(frames, vec![r#"{"event":"detailsView","messageId":1}"#]);
}

// ---- configure ------------------------------------------------------------------------------

#[test]
fn configure_rejoins_rooms_then_details_then_flushes_the_queue() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.rooms = vec![room("defaultRoom"), room("otherRoom"), room("defaultRoom")];
    let mut h = Harness::with_config(config);
    // Commands issued before connecting are queued.
    let a = h.c.action("randomNumber", Map::new(), h.now).unwrap();
    assert_eq!(a, MessageId::Number(1));
    assert_eq!(h.c.queued_requests(), 1);
    let attempt = h.connect_and_open();
    assert_eq!(
        h.transmits(),
        vec![
            r#"{"event":"roomAdd","room":"defaultRoom","messageId":2}"#,
            r#"{"event":"roomAdd","room":"otherRoom","messageId":3}"#,
        ]
    );
    // Answers may come out of order; detailsView waits for both.
    h.text(
        attempt,
        r#"{"status":"OK","context":"response","data":true,"messageId":3}"#,
    );
    assert!(h.transmits().is_empty());
    // "already in this room" counts as joined.
    h.text(attempt, r#"{"status":"Error: connection already in this room (defaultRoom)","error":"Error: connection already in this room (defaultRoom)","context":"response","data":{},"messageId":2}"#);
    assert_eq!(
        h.transmits(),
        vec![r#"{"event":"detailsView","messageId":4}"#]
    );
    // The queued action is still held back.
    assert_eq!(h.c.queued_requests(), 1);
    h.text(attempt, &details_answer(4, "conn-1"));
    let out = h.drain();
    assert_eq!(
        out,
        vec![
            ClientOutput::Event(ClientEvent::Connected {
                id: "conn-1".into(),
                fingerprint: "conn-1".into(),
                rooms: vec![room("defaultRoom"), room("otherRoom")],
            }),
            ClientOutput::Transmit(text_frame(
                r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#
            )),
        ]
    );
    assert_eq!(
        h.c.state(),
        ClientState::Connected {
            id: "conn-1".into(),
            fingerprint: "conn-1".into()
        }
    );
    assert_eq!(h.c.queued_requests(), 0);
    assert_eq!(h.c.pending_requests(), 1);
    // The connect timer is gone; the heartbeat and the request deadline remain.
    assert_eq!(h.c.timeout_reason(), Some(TimerKind::Request));
}

#[test]
fn configure_drops_missing_rooms_and_keeps_failed_ones() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.rooms = vec![room("gone"), room("blocked"), room("ok")];
    let mut h = Harness::with_config(config);
    let attempt = h.connect_and_open();
    h.transmits();
    h.text(attempt, r#"{"status":"Error: room does not exist","error":"Error: room does not exist","context":"response","data":{},"messageId":1}"#);
    h.text(attempt, r#"{"status":"Error: joining rooms blocked","error":"Error: joining rooms blocked","context":"response","data":{},"messageId":2}"#);
    h.text(
        attempt,
        r#"{"status":"OK","context":"response","data":true,"messageId":3}"#,
    );
    h.text(attempt, &details_answer(4, "c"));
    let events = h.events();
    assert_eq!(
        events,
        vec![
            ClientEvent::RoomDropped {
                room: room("gone"),
                error: "Error: room does not exist".into()
            },
            ClientEvent::RoomRejoinFailed {
                room: room("blocked"),
                error: "Error: joining rooms blocked".into()
            },
            ClientEvent::Connected {
                id: "c".into(),
                fingerprint: "c".into(),
                rooms: vec![room("ok")]
            },
        ]
    );
    // "blocked" stays remembered and is tried again next time.
    assert_eq!(h.rooms(), vec!["blocked", "ok"]);
}

#[test]
fn configure_failure_abandons_the_attempt() {
    let mut h = Harness::new();
    let attempt = h.connect_and_open();
    h.transmits();
    h.text(
        attempt,
        r#"{"status":"OK","context":"response","data":{},"messageId":1}"#,
    );
    let out = h.drain();
    assert!(matches!(out[0], ClientOutput::Close(_)), "{out:?}");
    assert_eq!(
        events_of(&out),
        vec![
            ClientEvent::ConnectionLost {
                reason: LostReason::ConfigureFailed("detailsView answer has no id".into())
            },
            ClientEvent::Reconnecting {
                attempt: 1,
                after: Duration::from_millis(500)
            },
        ]
    );
}

#[test]
fn backoff_counter_resets_only_after_configure() {
    let mut h = Harness::new();
    let attempt = h.connect_and_open();
    h.transmits();
    // The socket opened but closed before configure finished: this is retry 1.
    h.c.handle_closed(attempt, CloseCause::Remote { code: Some(1006) }, h.now);
    assert!(h.events().contains(&ClientEvent::Reconnecting {
        attempt: 1,
        after: Duration::from_millis(500)
    }));
    h.advance(Duration::from_millis(500));
    let attempt = open_attempt(&h.drain());
    h.c.handle_opened(attempt, h.now);
    h.transmits();
    // Opened again, dropped again before configure: retry 2, not retry 1.
    h.c.handle_closed(attempt, CloseCause::Remote { code: Some(1006) }, h.now);
    let retry = h.events().into_iter().find_map(|e| match e {
        ClientEvent::Reconnecting { attempt, .. } => Some(attempt),
        _ => None,
    });
    assert_eq!(retry, Some(2));
    // A full configure resets it.
    let attempt = h.wait_for_open();
    h.c.handle_opened(attempt, h.now);
    h.transmits();
    h.text(attempt, &details_answer(3, "x"));
    h.drain();
    h.c.handle_closed(attempt, CloseCause::Remote { code: None }, h.now);
    assert!(h.events().contains(&ClientEvent::Reconnecting {
        attempt: 1,
        after: Duration::from_millis(500)
    }));
}

// ---- backoff ---------------------------------------------------------------------------------

#[test]
fn reconnect_sequence_follows_primus_exactly_in_virtual_time() {
    let mut h = Harness::new();
    // Replays the client's RNG draws: one ws key per Open, one rand per retry >= 2.
    let mut rng = Rng::new(SEED);
    h.c.connect(h.now);
    h.drain();
    rng.bytes16();
    let mut attempt = AttemptId(1);
    for retry in 1..=10u32 {
        h.c.handle_open_failed(attempt, OpenFailure::Io("refused".into()), h.now);
        let expected = if retry == 1 {
            Duration::from_millis(500)
        } else {
            let rand = rng.unit_f64();
            let ms = ((rand + 1.0) * 500.0 * 2f64.powi(retry as i32 - 1)).round();
            Duration::from_millis(ms as u64)
        };
        let events = h.events();
        assert_eq!(
            events,
            vec![
                ClientEvent::ConnectionLost {
                    reason: LostReason::OpenFailed(OpenFailure::Io("refused".into()))
                },
                ClientEvent::Reconnecting {
                    attempt: retry,
                    after: expected
                },
            ],
            "retry {retry}"
        );
        assert_eq!(h.c.timeout_reason(), Some(TimerKind::Reconnect));
        assert_eq!(
            h.c.state(),
            ClientState::Backoff {
                retry,
                until: h.now + expected
            }
        );
        // Step virtual time in 100 ms increments: no Open before the deadline.
        let deadline = h.now + expected;
        while h.now + Duration::from_millis(100) < deadline {
            h.advance(Duration::from_millis(100));
            assert!(h.drain().is_empty(), "retry {retry} opened early");
        }
        h.advance(deadline - h.now);
        attempt = open_attempt(&h.drain());
        rng.bytes16();
        assert_eq!(attempt, AttemptId(u64::from(retry) + 1));
        // Retries run under the per-attempt timeout, not the connect timeout.
        assert_eq!(
            h.c.poll_timeout(),
            Some(h.now + ReconnectConfig::DEFAULT_ATTEMPT_TIMEOUT)
        );
    }
    h.c.handle_open_failed(attempt, OpenFailure::Io("refused".into()), h.now);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::ConnectionLost {
                reason: LostReason::OpenFailed(OpenFailure::Io("refused".into()))
            },
            ClientEvent::ReconnectFailed { attempts: 10 },
            ClientEvent::Disconnected {
                reason: DisconnectReason::RetriesExhausted { attempts: 10 }
            },
        ]
    );
    assert_eq!(h.c.poll_timeout(), None);
}

#[test]
fn retry_attempt_timeout_abandons_a_stalled_retry() {
    let mut h = Harness::new();
    h.c.connect(h.now);
    let attempt = open_attempt(&h.drain());
    h.c.handle_open_failed(attempt, OpenFailure::Io("x".into()), h.now);
    let attempt = h.wait_for_open();
    h.c.handle_opened(attempt, h.now);
    h.drain();
    // Open but never configured: the attempt timeout (30 s) fires, not the ping (45 s).
    h.advance(ReconnectConfig::DEFAULT_ATTEMPT_TIMEOUT);
    let out = h.drain();
    assert!(matches!(out[0], ClientOutput::Close(_)));
    assert!(events_of(&out).contains(&ClientEvent::ConnectionLost {
        reason: LostReason::ConnectTimeout
    }));
}

#[test]
fn without_retry_first_connect_a_failed_first_attempt_stops_the_client() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.retry_first_connect = false;
    let mut h = Harness::with_config(config.clone());
    h.c.connect(h.now);
    let attempt = open_attempt(&h.drain());
    h.c.handle_open_failed(attempt, OpenFailure::Io("refused".into()), h.now);
    let lost = LostReason::OpenFailed(OpenFailure::Io("refused".into()));
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::ConnectionLost {
                reason: lost.clone()
            },
            ClientEvent::Disconnected {
                reason: DisconnectReason::FirstConnectFailed(lost)
            },
        ]
    );
    assert_eq!(h.c.poll_timeout(), None);

    // A stalled first attempt too; a later loss is retried as usual.
    let mut h = Harness::with_config(config.clone());
    h.c.connect(h.now);
    h.drain();
    h.advance(ClientConfig::DEFAULT_CONNECT_TIMEOUT);
    assert!(events_of(&h.drain()).contains(&ClientEvent::Disconnected {
        reason: DisconnectReason::FirstConnectFailed(LostReason::ConnectTimeout)
    }));
    let mut h = Harness::with_config(config);
    let attempt = h.connect_and_configure("c");
    h.c.handle_closed(attempt, CloseCause::Error("reset".into()), h.now);
    assert!(matches!(
        h.events()[1],
        ClientEvent::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn a_failed_first_attempt_is_retried_by_default() {
    let mut h = Harness::new();
    h.c.connect(h.now);
    let attempt = open_attempt(&h.drain());
    h.c.handle_open_failed(attempt, OpenFailure::Io("refused".into()), h.now);
    assert!(matches!(
        h.events()[1],
        ClientEvent::Reconnecting { attempt: 1, .. }
    ));
    assert_eq!(h.wait_for_open(), AttemptId(2));
}

#[test]
fn zero_retries_never_reconnects() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.reconnect.retries = 0;
    let mut h = Harness::with_config(config);
    let attempt = h.connect_and_configure("c");
    h.c.handle_closed(attempt, CloseCause::Error("reset".into()), h.now);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::ConnectionLost {
                reason: LostReason::Closed(CloseCause::Error("reset".into()))
            },
            ClientEvent::ReconnectFailed { attempts: 0 },
            ClientEvent::Disconnected {
                reason: DisconnectReason::RetriesExhausted { attempts: 0 }
            },
        ]
    );
}

// ---- heartbeat ---------------------------------------------------------------------------------

#[test]
fn pings_are_answered_with_the_exact_pong() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    // Frames from transcripts/heartbeat.jsonl.
    h.text(attempt, r#""primus::ping::1795615042794""#);
    assert_eq!(h.transmits(), vec![r#""primus::pong::1795615042794""#]);
    h.text(attempt, r#""primus::ping::abc""#);
    assert_eq!(h.transmits(), vec![r#""primus::pong::NaN""#]);
}

#[test]
fn missing_pings_kill_the_connection_and_reconnect() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    let sent = h.c.action("a", Map::new(), h.now).unwrap();
    h.transmits();
    // Pings keep it alive...
    h.advance(Duration::from_secs(40));
    h.text(attempt, r#""primus::ping::1""#);
    h.drain();
    h.advance(Duration::from_secs(40));
    assert!(h
        .drain()
        .iter()
        .all(|o| !matches!(o, ClientOutput::Close(_))));
    // ...until none arrives for 45 s (the request deadline, 30 s, passed first).
    h.advance(Duration::from_secs(5));
    let out = h.drain();
    assert_eq!(
        out,
        vec![
            ClientOutput::Close(Frame::Close {
                code: None,
                reason: ""
            }),
            ClientOutput::Event(ClientEvent::ConnectionLost {
                reason: LostReason::PingTimeout
            }),
            ClientOutput::Event(ClientEvent::Reconnecting {
                attempt: 1,
                after: Duration::from_millis(500)
            }),
        ]
    );
    let _ = sent;
}

#[test]
fn ping_timeout_can_be_disabled() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.ping_timeout = None;
    let mut h = Harness::with_config(config);
    h.connect_and_configure("c");
    assert_eq!(h.c.poll_timeout(), None);
}

// ---- requests ------------------------------------------------------------------------------------

#[test]
fn responses_are_matched_by_id_and_rooms_follow_ok_answers() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    let add = h.c.room_add(room("defaultRoom"), h.now).unwrap();
    let add2 = h.c.room_add(room("otherRoom"), h.now).unwrap();
    assert_eq!(
        h.transmits(),
        vec![
            r#"{"event":"roomAdd","room":"defaultRoom","messageId":2}"#,
            r#"{"event":"roomAdd","room":"otherRoom","messageId":3}"#,
        ]
    );
    h.text(
        attempt,
        r#"{"status":"OK","context":"response","data":true,"messageId":2}"#,
    );
    h.text(attempt, r#"{"status":"Error: room does not exist","error":"Error: room does not exist","context":"response","data":{},"messageId":3}"#);
    let events = h.events();
    assert!(matches!(&events[0], ClientEvent::Response { id, .. } if *id == add));
    assert!(matches!(&events[1], ClientEvent::Response { id, .. } if *id == add2));
    assert_eq!(h.rooms(), vec!["defaultRoom"]);
    // say, roomView, file, documentation, detailsView frames are the real client's.
    h.c.say(&room("defaultRoom"), json!("hello from A"), h.now)
        .unwrap();
    h.c.room_view(&room("defaultRoom"), h.now).unwrap();
    h.c.file("simple.html", h.now).unwrap();
    h.c.documentation(h.now).unwrap();
    h.c.details_view(h.now).unwrap();
    let leave = h.c.room_leave(&room("defaultRoom"), h.now).unwrap();
    assert_eq!(
        h.transmits(),
        vec![
            r#"{"event":"say","room":"defaultRoom","message":"hello from A","messageId":4}"#,
            r#"{"event":"roomView","room":"defaultRoom","messageId":5}"#,
            r#"{"event":"file","file":"simple.html","messageId":6}"#,
            r#"{"event":"documentation","messageId":7}"#,
            r#"{"event":"detailsView","messageId":8}"#,
            r#"{"event":"roomLeave","room":"defaultRoom","messageId":9}"#,
        ]
    );
    // A failed leave of a room we are not in forgets it as well.
    h.text(attempt, r#"{"status":"Error: connection not in this room (defaultRoom)","error":"Error: connection not in this room (defaultRoom)","context":"response","data":{},"messageId":9}"#);
    assert!(matches!(&h.events()[0], ClientEvent::Response { id, .. } if *id == leave));
    assert!(h.rooms().is_empty());
    // The say ack and the chat echo (transcripts/say_fanout.jsonl).
    h.text(
        attempt,
        r#"{"status":"OK","context":"response","messageId":4}"#,
    );
    h.text(attempt, r#"{"message":"hello from A","room":"defaultRoom","from":"07388587-3401-467f-9c36-1315fbc8e784","context":"user","sentAt":1795615030496}"#);
    let events = h.events();
    assert_eq!(
        events[0],
        ClientEvent::Response {
            id: MessageId::Number(4),
            body: json!({"status":"OK","context":"response","messageId":4})
        }
    );
    assert_eq!(
        events[1],
        ClientEvent::Say {
            room: room("defaultRoom"),
            from: "07388587-3401-467f-9c36-1315fbc8e784".into(),
            message: json!("hello from A"),
            sent_at_ms: 1_795_615_030_496,
            body: json!({"message":"hello from A","room":"defaultRoom","from":"07388587-3401-467f-9c36-1315fbc8e784","context":"user","sentAt":1_795_615_030_496_u64}),
        }
    );
}

#[test]
fn params_message_id_is_honoured_like_the_real_client() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    let mut params = Map::new();
    params.insert("messageId".into(), json!("abc"));
    params.insert("key".into(), json!("k"));
    let id = h.c.action("cacheTest", params.clone(), h.now).unwrap();
    assert_eq!(id, MessageId::from("abc"));
    assert_eq!(
        h.transmits(),
        vec![
            r#"{"event":"action","params":{"messageId":"abc","key":"k","action":"cacheTest"},"messageId":"abc"}"#
        ]
    );
    // The id is in use: a second one is refused and nothing changes.
    assert_eq!(
        h.c.action("cacheTest", params, h.now),
        Err(UsageError::DuplicateMessageId)
    );
    // The counter advanced for the overridden request (the configure used 1).
    assert_eq!(h.c.details_view(h.now).unwrap(), MessageId::Number(3));
    // A falsy params.messageId falls back to the counter.
    let mut params = Map::new();
    params.insert("messageId".into(), json!(0));
    assert_eq!(
        h.c.action("x", params, h.now).unwrap(),
        MessageId::Number(4)
    );
    // A user id that collides with the counter makes the counter skip it.
    let mut params = Map::new();
    params.insert("messageId".into(), json!(6));
    assert_eq!(
        h.c.action("x", params, h.now).unwrap(),
        MessageId::Number(6)
    );
    assert_eq!(h.c.details_view(h.now).unwrap(), MessageId::Number(7));
    // `"6"` and `6` are the same request, as JavaScript object keys.
    h.transmits();
    h.text(
        attempt,
        r#"{"randomNumber":0.5,"context":"response","messageId":"6"}"#,
    );
    assert!(
        matches!(&h.events()[0], ClientEvent::Response { id, .. } if *id == MessageId::Number(6))
    );
}

#[test]
fn deadlines_fail_requests_exactly_once() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    let id = h.c.action("sleepTest", Map::new(), h.now).unwrap();
    h.transmits();
    h.advance(ClientConfig::DEFAULT_REQUEST_TIMEOUT - Duration::from_millis(1));
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.events(),
        vec![ClientEvent::RequestFailed {
            id: id.clone(),
            reason: RequestFailure::TimedOut
        }]
    );
    // The late answer is a plain message, not delivered a second time.
    h.text(
        attempt,
        r#"{"sleepDuration":1,"context":"response","messageId":2}"#,
    );
    assert_eq!(
        h.events(),
        vec![ClientEvent::Message(
            json!({"sleepDuration":1,"context":"response","messageId":2})
        )]
    );
    // Deadlines run while queued too.
    h.c.handle_closed(attempt, CloseCause::Remote { code: None }, h.now);
    h.drain();
    let queued = h.c.details_view(h.now).unwrap();
    h.advance(ClientConfig::DEFAULT_REQUEST_TIMEOUT);
    assert!(h.events().contains(&ClientEvent::RequestFailed {
        id: queued,
        reason: RequestFailure::TimedOut
    }));
    assert_eq!(h.c.pending_requests(), 0);
}

#[test]
fn a_push_stamped_as_a_response_is_a_message() {
    // `Server::send` / Actionhero's `connection.sendMessage` outside an action: the server
    // stamps `context: "response"` and the connection's latest messageId (here configure's
    // detailsView, answered already), or none before any request.
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    h.text(
        attempt,
        r#"{"hello":"there","context":"response","messageId":1}"#,
    );
    h.text(attempt, r#"{"hello":"again","context":"response"}"#);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::Message(json!({"hello":"there","context":"response","messageId":1})),
            ClientEvent::Message(json!({"hello":"again","context":"response"})),
        ]
    );
    // An outstanding request is still answered by its own id.
    let id = h.c.details_view(h.now).unwrap();
    h.transmits();
    h.text(attempt, &details_answer(2, "c"));
    assert!(matches!(&h.events()[..], [ClientEvent::Response { id: got, .. }] if *got == id));
}

#[test]
fn dropped_connections_fail_in_flight_requests_and_keep_queued_ones() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    let sent = h.c.action("a", Map::new(), h.now).unwrap();
    h.transmits();
    h.c.handle_closed(attempt, CloseCause::Remote { code: Some(1006) }, h.now);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::ConnectionLost {
                reason: LostReason::Closed(CloseCause::Remote { code: Some(1006) })
            },
            ClientEvent::RequestFailed {
                id: sent,
                reason: RequestFailure::ConnectionLost
            },
            ClientEvent::Reconnecting {
                attempt: 1,
                after: Duration::from_millis(500)
            },
        ]
    );
    let queued = h.c.action("b", Map::new(), h.now).unwrap();
    let attempt = h.wait_for_open();
    h.c.handle_opened(attempt, h.now);
    // Nothing is re-sent: only configure's detailsView goes out before Connected.
    assert_eq!(
        h.transmits(),
        vec![r#"{"event":"detailsView","messageId":4}"#]
    );
    h.text(attempt, &details_answer(4, "c2"));
    assert_eq!(
        h.transmits(),
        vec![r#"{"event":"action","params":{"action":"b"},"messageId":3}"#]
    );
    h.text(attempt, r#"{"ok":true,"context":"response","messageId":3}"#);
    assert!(h.events().contains(&ClientEvent::Response {
        id: queued,
        body: json!({"ok":true,"context":"response","messageId":3})
    }));
}

// ---- offline queue ----------------------------------------------------------------------------------

#[test]
fn reject_new_policy_refuses_when_full() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.max_offline_queue = 2;
    config.queue_policy = QueuePolicy::RejectNew;
    let mut h = Harness::with_config(config);
    h.c.details_view(h.now).unwrap();
    h.c.details_view(h.now).unwrap();
    assert_eq!(h.c.details_view(h.now), Err(UsageError::QueueFull));
    assert_eq!(h.c.queued_requests(), 2);
    assert!(h.drain().is_empty());
}

#[test]
fn drop_oldest_policy_fails_the_oldest() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.max_offline_queue = 2;
    let mut h = Harness::with_config(config);
    let first = h.c.details_view(h.now).unwrap();
    h.c.details_view(h.now).unwrap();
    h.c.details_view(h.now).unwrap();
    assert_eq!(
        h.events(),
        vec![ClientEvent::RequestFailed {
            id: first,
            reason: RequestFailure::Dropped
        }]
    );
    assert_eq!(h.c.queued_requests(), 2);
}

#[test]
fn zero_capacity_queue_and_pending_limit() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.max_offline_queue = 0;
    config.max_pending_requests = 2;
    let mut h = Harness::with_config(config);
    assert_eq!(h.c.details_view(h.now), Err(UsageError::QueueFull));
    h.connect_and_configure("c");
    h.c.details_view(h.now).unwrap();
    h.c.details_view(h.now).unwrap();
    assert_eq!(h.c.details_view(h.now), Err(UsageError::TooManyPending));
    // The refused call did not advance the counter.
    h.transmits();
    assert_eq!(h.c.pending_requests(), 2);
}

// ---- endings ----------------------------------------------------------------------------------------

#[test]
fn server_close_then_socket_close_is_final() {
    let mut h = Harness::new();
    let attempt = h.connect_and_configure("c");
    let sent = h.c.action("a", Map::new(), h.now).unwrap();
    h.transmits();
    h.text(attempt, r#""primus::server::close""#);
    assert!(h.drain().is_empty());
    h.c.handle_closed(attempt, CloseCause::Remote { code: None }, h.now);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::RequestFailed {
                id: sent,
                reason: RequestFailure::ConnectionLost
            },
            ClientEvent::Disconnected {
                reason: DisconnectReason::ServerClosed
            },
        ]
    );
    assert_eq!(h.c.poll_timeout(), None);
    assert_eq!(h.c.details_view(h.now), Err(UsageError::Closed));
    // connect() starts a new run.
    h.c.connect(h.now);
    assert!(matches!(h.drain()[0], ClientOutput::Open { .. }));
}

#[test]
fn disconnect_is_final_and_fails_everything() {
    let mut h = Harness::new();
    h.connect_and_configure("c");
    let sent = h.c.details_view(h.now).unwrap();
    h.transmits();
    h.c.disconnect(h.now);
    assert_eq!(
        h.drain(),
        vec![
            ClientOutput::Close(Frame::Close {
                code: None,
                reason: ""
            }),
            ClientOutput::Event(ClientEvent::RequestFailed {
                id: sent,
                reason: RequestFailure::ConnectionLost
            }),
            ClientOutput::Event(ClientEvent::Disconnected {
                reason: DisconnectReason::Local
            }),
        ]
    );
    h.c.disconnect(h.now);
    assert!(h.drain().is_empty());
    // Queued requests fail as Closed when the client stops in backoff.
    let mut h = Harness::new();
    h.c.connect(h.now);
    let attempt = open_attempt(&h.drain());
    h.c.handle_open_failed(attempt, OpenFailure::Io("x".into()), h.now);
    let queued = h.c.details_view(h.now).unwrap();
    h.drain();
    h.c.disconnect(h.now);
    assert_eq!(
        h.drain(),
        vec![
            ClientOutput::Event(ClientEvent::RequestFailed {
                id: queued,
                reason: RequestFailure::Closed
            }),
            ClientOutput::Event(ClientEvent::Disconnected {
                reason: DisconnectReason::Local
            }),
        ]
    );
}

// ---- golden frames and bad input ----------------------------------------------------------------------

#[test]
fn golden_server_frames_are_routed_like_the_real_client() {
    let mut h = Harness::new();
    let attempt = h.connect_and_open();
    h.transmits();
    // transcripts/welcome_and_details.jsonl
    h.text(
        attempt,
        r#"{"welcome":"Welcome to the actionhero api","context":"api"}"#,
    );
    h.text(attempt, r#"{"status":"OK","context":"response","data":{"id":"52ff1f36-8476-4e40-8d84-caad3c01ccd2","fingerprint":"52ff1f36-8476-4e40-8d84-caad3c01ccd2","remoteIP":"127.0.0.1","remotePort":41316,"params":{},"connectedAt":1795615025305,"rooms":[],"totalActions":0,"pendingActions":0},"messageId":1}"#);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::Welcome("Welcome to the actionhero api".into()),
            ClientEvent::Connected {
                id: "52ff1f36-8476-4e40-8d84-caad3c01ccd2".into(),
                fingerprint: "52ff1f36-8476-4e40-8d84-caad3c01ccd2".into(),
                rooms: vec![]
            },
        ]
    );
    // transcripts/action_numeric_id.jsonl-style action answer and a verb error.
    let id = h.c.action("randomNumber", Map::new(), h.now).unwrap();
    assert_eq!(
        h.transmits(),
        vec![r#"{"event":"action","params":{"action":"randomNumber"},"messageId":2}"#]
    );
    h.text(attempt, r#"{"randomNumber":0.123,"stringRandomNumber":"Your random number is 0.123","context":"response","messageId":2}"#);
    assert_eq!(
        h.events(),
        vec![ClientEvent::Response {
            id,
            body: json!({"randomNumber":0.123,"stringRandomNumber":"Your random number is 0.123","context":"response","messageId":2})
        }]
    );
    // Alerts, other api messages, ids, other contexts and non-objects.
    h.text(attempt, r#"{"message":"hi","context":"alert"}"#);
    h.text(attempt, r#"{"something":1,"context":"api"}"#);
    h.text(attempt, r#""primus::id::V1StGXR8_Z5jdHi6B-myT""#);
    h.text(attempt, r#"{"context":"mine"}"#);
    h.text(attempt, "123");
    h.text(attempt, r#""primus::foo""#);
    assert_eq!(
        h.events(),
        vec![
            ClientEvent::Alert(json!({"message":"hi","context":"alert"})),
            ClientEvent::Api(json!({"something":1,"context":"api"})),
            ClientEvent::Message(json!("primus::id::V1StGXR8_Z5jdHi6B-myT")),
            ClientEvent::Message(json!({"context":"mine"})),
            ClientEvent::Message(json!(123)),
            ClientEvent::Message(json!("primus::foo")),
        ]
    );
}

#[test]
fn bad_server_input_is_reported_and_the_connection_carries_on() {
    let mut config = ClientConfig::new("http://127.0.0.1:8080");
    config.max_message_len = 256;
    let mut h = Harness::with_config(config);
    let attempt = h.connect_and_configure("c");
    let before = h.c.state();
    h.text(attempt, "{bad");
    h.text(attempt, &"x".repeat(257));
    h.c.handle_binary(attempt, b"abcd", h.now);
    h.text(attempt, r#"{"context":"user","message":"m"}"#);
    h.text(
        attempt,
        r#"{"context":"user","room":"","from":"a","sentAt":1}"#,
    );
    let events = h.events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events
        .iter()
        .all(|e| matches!(e, ClientEvent::ProtocolViolation { .. })));
    assert!(matches!(
        events[1],
        ClientEvent::ProtocolViolation {
            violation: Violation::MessageTooLarge { len: 257, max: 256 }
        }
    ));
    assert_eq!(h.c.state(), before);
    // Odd but usable say shapes are accepted: numeric from, float sentAt.
    h.text(
        attempt,
        r#"{"context":"user","room":"r","from":0,"sentAt":5.7,"message":{"a":1}}"#,
    );
    assert!(matches!(
        &h.events()[0],
        ClientEvent::Say { from, sent_at_ms: 5, .. } if from.as_str() == "0"
    ));
    // Garbage never panics.
    for text in [
        "",
        "null",
        "[]",
        "\"primus::\"",
        "\"primus::ping\"",
        "{\"context\":\"response\",\"messageId\":{\"a\":[1]}}",
        "\u{0}",
    ] {
        h.text(attempt, text);
    }
    h.drain();
    assert_eq!(h.c.state(), before);
}

#[test]
fn same_seed_same_inputs_same_outputs() {
    let run = || {
        let mut h = Harness::new();
        let attempt = h.connect_and_configure("c");
        h.c.handle_closed(attempt, CloseCause::Remote { code: None }, h.now);
        let mut all = h.drain();
        for _ in 0..3 {
            let a = h.wait_for_open();
            h.c.handle_open_failed(a, OpenFailure::Io("x".into()), h.now);
            all.extend(h.drain());
        }
        all
    };
    assert_eq!(run(), run());
}

#[test]
fn poll_timeout_is_never_in_the_past_after_a_drain() {
    let mut h = Harness::new();
    h.c.details_view(h.now).unwrap();
    h.c.connect(h.now);
    // Jump far past every deadline with a command instead of handle_timeout.
    h.now += Duration::from_secs(3600);
    let _ = h.c.details_view(h.now);
    h.drain();
    assert!(h.c.poll_timeout().map_or(true, |t| t > h.now));
    // Time going backwards is clamped.
    let earlier = h.now - Duration::from_secs(10);
    h.c.handle_timeout(earlier);
    assert!(h.c.poll_timeout().map_or(true, |t| t > h.now));
}

#[test]
fn every_state_variant_is_in_the_diagram() {
    let source = include_str!("state.rs");
    let diagram: String = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let t = epoch();
    let states = [
        state::State::Idle,
        state::State::Connecting {
            attempt: AttemptId(1),
        },
        state::State::Configuring {
            attempt: AttemptId(1),
            joins: Default::default(),
            failed: Default::default(),
            details: None,
            server_closing: false,
        },
        state::State::Connected {
            attempt: AttemptId(1),
            id: "a".into(),
            fingerprint: "a".into(),
            server_closing: false,
        },
        state::State::Backoff { until: t },
        state::State::Closed {
            reason: DisconnectReason::Local,
        },
    ];
    for s in states {
        assert!(
            diagram.contains(&format!("{} -->", s.name()))
                || diagram.contains(&format!("--> {}", s.name())),
            "{} missing from the diagram",
            s.name()
        );
    }
}

// ---- helpers ---------------------------------------------------------------------------------------------

const SEED: [u8; 32] = [7; 32];

struct Harness {
    c: Client,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(ClientConfig::new("http://127.0.0.1:8080"))
    }

    fn with_config(config: ClientConfig) -> Self {
        let now = epoch();
        let unix = UNIX_EPOCH + Duration::from_millis(1_795_615_025_305);
        Self {
            c: Client::new(config, SEED, now, unix).unwrap(),
            now,
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
    }

    fn drain(&mut self) -> Vec<ClientOutput> {
        let out: Vec<_> = std::iter::from_fn(|| self.c.poll_output()).collect();
        if let Some(t) = self.c.poll_timeout() {
            assert!(t > self.now, "deadline in the past after a drain");
        }
        out
    }

    fn events(&mut self) -> Vec<ClientEvent> {
        events_of(&self.drain())
    }

    fn transmits(&mut self) -> Vec<String> {
        self.drain()
            .into_iter()
            .filter_map(|o| match o {
                ClientOutput::Transmit(f) => f.as_text().map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    fn text(&mut self, attempt: AttemptId, text: &str) {
        self.c.handle_text(attempt, text, self.now);
    }

    fn rooms(&self) -> Vec<&str> {
        self.c.rooms().map(RoomName::as_str).collect()
    }

    /// connect() + handle_opened(); configure frames are left in the queue.
    fn connect_and_open(&mut self) -> AttemptId {
        self.c.connect(self.now);
        let attempt = open_attempt(&self.drain());
        self.c.handle_opened(attempt, self.now);
        attempt
    }

    /// A connection with no rooms, configured as `id`.
    fn connect_and_configure(&mut self, id: &str) -> AttemptId {
        let attempt = self.connect_and_open();
        let frames = self.transmits();
        let details: Value = serde_json::from_str(frames.last().unwrap()).unwrap();
        let n = details["messageId"].as_u64().unwrap();
        self.text(attempt, &details_answer(n, id));
        assert!(matches!(self.events()[0], ClientEvent::Connected { .. }));
        attempt
    }

    /// Steps time until the client opens its next attempt.
    fn wait_for_open(&mut self) -> AttemptId {
        for _ in 0..10_000 {
            let Some(t) = self.c.poll_timeout() else {
                panic!("no timer armed")
            };
            self.now = t;
            self.c.handle_timeout(t);
            let out = self.drain();
            if let Some(a) = out.iter().find_map(|o| match o {
                ClientOutput::Open { attempt, .. } => Some(*attempt),
                _ => None,
            }) {
                return a;
            }
        }
        panic!("never reopened")
    }
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

fn text_frame(s: &str) -> Frame {
    Frame::Text(crate::frame::Text::from(s.to_owned()))
}

fn details_answer(message_id: u64, id: &str) -> String {
    format!(
        r#"{{"status":"OK","context":"response","data":{{"id":"{id}","fingerprint":"{id}","remoteIP":"127.0.0.1","remotePort":1,"params":{{}},"connectedAt":1,"rooms":[],"totalActions":0,"pendingActions":0}},"messageId":{message_id}}}"#
    )
}

fn events_of(out: &[ClientOutput]) -> Vec<ClientEvent> {
    out.iter()
        .filter_map(|o| match o {
            ClientOutput::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn open_attempt(out: &[ClientOutput]) -> AttemptId {
    out.iter()
        .find_map(|o| match o {
            ClientOutput::Open { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Open in {out:?}"))
}

fn open_url(out: &[ClientOutput]) -> String {
    out.iter()
        .find_map(|o| match o {
            ClientOutput::Open { upgrade, .. } => Some(upgrade.url.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Open in {out:?}"))
}

/// The virtual-time origin of a test (the only clock read, docs/architecture.md#time).
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now() // virtual epoch
}
