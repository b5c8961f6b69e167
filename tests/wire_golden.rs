//! Golden wire tests: every frame recorded from a real Actionhero 29.3.5 / Primus 8.0.9
//! server (`tests/fixtures/transcripts/*.jsonl`) and every recorded frame docs/protocol.md
//! quotes goes through the codec, and must come back byte for byte:
//!
//! * server → client (`in`): `reply::decode` → `reply::encode`, the semantic class the
//!   client routes it to, and a rebuild from its semantic parts with the *server-side*
//!   encoders (`encode_welcome`, `encode_verb_ok`, `encode_verb_error` with the decoded
//!   request's remnant, `encode_action_response`, `say_payload` + `encode_message`,
//!   `encode_file`, `encode_file_not_found`, `encode_ping`, `encode_id`, `SERVER_CLOSE`).
//!   Values that vary between runs are taken from the recorded frame itself.
//! * client → server (`out`): `request::decode`, checked against the frame's own JSON and
//!   against the live server's answer (its `messageId`, and the remnant it echoed in
//!   `data`); frames the real client sends are rebuilt with `request::encode` /
//!   `encode_pong`.

// Test code: a panic is a failed assertion.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use actionhero_ws::wire::js;
use actionhero_ws::wire::primus;
use actionhero_ws::wire::reply::{self, ServerFrame};
use actionhero_ws::wire::request::{self, ClientFrame, ClientRequest, Request, Verb};
use actionhero_ws::MessageId;
use serde_json::{Map, Value};
use support::transcript::{self, Dir, Event, Transcript};

// ---------------------------------------------------------------------------------------
// Server → client frames
// ---------------------------------------------------------------------------------------

#[test]
fn every_transcript_is_a_fixture() {
    let all = transcript::load_all();
    assert_eq!(
        all.len(),
        EXPECTED_CLASSES.len(),
        "transcripts vs class table"
    );
    // Pinned so that a lost or truncated fixture file shows up (update when adding one).
    let count = |dir: Dir| -> usize {
        all.iter()
            .flat_map(|t| &t.events)
            .filter(|e| e.dir == dir)
            .count()
    };
    assert_eq!((count(Dir::In), count(Dir::Out)), (136, 95));
}

#[test]
fn server_frames_decode_and_encode_byte_exact() {
    for t in transcript::load_all() {
        for ev in in_frames(&t) {
            let text = ev.text();
            let frame = reply::decode(text)
                .unwrap_or_else(|e| panic!("{}:{}: {e}: {text}", t.name, ev.line));
            assert_eq!(reply::encode(&frame), text, "{}:{}", t.name, ev.line);
        }
    }
}

/// Per connection, the class of every server frame in order:
/// W welcome, R response, S chat (say), P ping, I primus id, C server close.
const EXPECTED_CLASSES: &[(&str, &str)] = &[
    ("action_apiVersion", "A:WRR"),
    ("action_apiVersion_falsy", "A:WRRRRRR"),
    ("action_falsy_id", "A:WRR"),
    ("action_formatter_error", "A:WRRRRRRR"),
    ("action_missing_param", "A:WR"),
    ("action_no_id", "A:WR"),
    ("action_numeric_id", "A:WR"),
    ("action_params_ok", "A:WR"),
    ("action_string_id", "A:WR"),
    ("action_too_many_pending", "A:WRRRRRR"),
    ("action_unknown", "A:WRR"),
    ("action_validation", "A:WRRRR"),
    ("binary_frame", "A:WR"),
    ("detailsView_after_actions", "A:WRRRRRRR"),
    ("documentation", "A:WR"),
    ("file_missing", "A:WR"),
    ("file_ok", "A:WR"),
    ("file_traversal", "A:WRR"),
    ("heartbeat", "A:WPPP B:WP"),
    ("invalid_json", "A:WR"),
    ("non_object_frames", "A:WRRRRRR"),
    ("null_frame_crash", "A:W"),
    ("primus_id", "A:WI"),
    ("quit", "A:WC"),
    ("say_fanout", "A:WRRSRR B:WRS"),
    ("say_null_words", "A:WRRRRSRSRSRSRSRRRRR"),
    ("say_odd_shapes", "A:WRRSRSRSR"),
    ("verb_unknown", "A:WRR"),
    ("verbs_rooms", "A:WRRRRRRRR"),
    ("welcome_and_details", "A:WR"),
];

#[test]
fn server_frames_have_their_semantic_class() {
    for (name, want) in EXPECTED_CLASSES {
        let t = transcript::load(name);
        let got: Vec<String> = t
            .connections()
            .into_iter()
            .map(|conn| {
                let classes: String = t
                    .events_of(conn)
                    .filter(|e| e.dir == Dir::In)
                    .map(|e| class(&decode_server(&t, e)))
                    .collect();
                format!("{conn}:{classes}")
            })
            .collect();
        assert_eq!(got.join(" "), *want, "{name}");
    }
}

#[test]
fn server_frames_rebuild_from_parts_with_the_server_encoders() {
    for t in transcript::load_all() {
        for (conn_events, pairs) in pair_requests_and_answers(&t) {
            for ev in conn_events {
                let rebuilt = rebuild_server_frame(&t, ev, pairs.request_for(ev.line));
                assert_eq!(rebuilt, ev.text(), "{}:{}", t.name, ev.line);
            }
        }
    }
}

#[test]
fn masked_comparison_accepts_fresh_volatile_values_only() {
    let mut checked = 0;
    for t in transcript::load_all() {
        for ev in in_frames(&t).filter(|e| !e.volatile.is_empty()) {
            let fresh = with_fresh_volatile_values(&t, ev);
            assert_ne!(fresh, ev.text(), "{}:{}: nothing changed", t.name, ev.line);
            assert!(ev.matches(&fresh), "{}:{}: {fresh}", t.name, ev.line);
            transcript::assert_frame_matches(ev, &fresh);
            // A change outside the volatile values is still a mismatch.
            let tampered = fresh.replacen("\"context\"", "\"kontext\"", 1);
            if tampered != fresh {
                assert!(!ev.matches(&tampered), "{}:{}", t.name, ev.line);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 46);
}

// ---------------------------------------------------------------------------------------
// Client → server frames
// ---------------------------------------------------------------------------------------

/// Recorded `out` frames the real ActionheroWebsocketClient never sends (hand-made
/// requests: falsy or missing ids, odd shapes, non-objects, garbage). They are decoded
/// and checked but not rebuilt with `request::encode`.
const NOT_FROM_THE_REAL_CLIENT: &[&str] = &[
    r#"{"event":"action","params":{"action":"randomNumber"},"messageId":0}"#,
    r#"{"event":"action","params":{"action":"randomNumber"},"messageId":""}"#,
    r#"{"event":"action","params":{"action":"randomNumber"}}"#,
    r#"{"event":"action","messageId":2}"#,
    "{bad",
    "123",
    r#""hello""#,
    "[1,2]",
    "true",
    r#"{"noevent":1}"#,
    r#""primus::foo""#,
    "null",
    r#"{"event":"say","room":"defaultRoom","messageId":4}"#,
    r#"{"event":"say","room":"defaultRoom","message":"m","extra":"x","1":"first?","messageId":4}"#,
    r#"{"event":"say","message":"hello","messageId":5}"#,
    r#"{"event":"paramAdd","key":"k","value":"v","messageId":1}"#,
    r#"{"event":"nope","messageId":2}"#,
    r#"{"event":"roomAdd","messageId":8}"#,
    r#"{"event":"say","room":"defaultRoom","message":"a","x":null,"messageId":4}"#,
    r#"{"event":"say","room":"defaultRoom","message":null,"b":"z","messageId":5}"#,
    r#"{"event":"say","room":"defaultRoom","message":"","y":false,"messageId":7}"#,
    r#"{"event":"say","room":"otherRoom","message":"","x":{"toString":1},"messageId":11}"#,
    r#"{"event":"say","room":{"toString":1},"message":"m","messageId":12}"#,
    r#"{"event":"say","room":{"toString":1},"message":"","messageId":13}"#,
];

#[test]
fn client_frames_decode_like_the_reference() {
    for t in transcript::load_all() {
        for ev in t.events.iter().filter(|e| e.dir == Dir::Out) {
            let at = format!("{}:{}", t.name, ev.line);
            let Some(text) = &ev.text else {
                continue; // binary: see binary_frames_decode_as_a_buffer
            };
            let frame = match request::decode(text) {
                Ok(f) => f,
                Err(_) => {
                    assert_eq!(text, "{bad", "{at}: only {{bad is invalid JSON");
                    continue;
                }
            };
            let value: Value = serde_json::from_str(text).unwrap();
            match frame {
                ClientFrame::Pong(v) => {
                    assert_eq!(text, &format!("\"primus::pong::{v}\""), "{at}")
                }
                ClientFrame::IdRequest => assert_eq!(text, "\"primus::id::\"", "{at}"),
                ClientFrame::Request(req) => check_request_against_json(&at, &req, &value),
            }
        }
    }
}

#[test]
fn client_frames_rebuild_byte_exact_with_the_client_encoders() {
    let mut rebuilt = 0;
    let mut seen_exceptions = BTreeSet::new();
    for t in transcript::load_all() {
        let mut last_ping: Option<String> = None;
        for ev in &t.events {
            let at = format!("{}:{}", t.name, ev.line);
            let Some(text) = &ev.text else { continue };
            if ev.dir == Dir::In {
                if let Ok(ServerFrame::Ping(v)) = reply::decode(text) {
                    last_ping = Some(v);
                }
                continue;
            }
            if ev.dir != Dir::Out {
                continue;
            }
            if NOT_FROM_THE_REAL_CLIENT.contains(&text.as_str()) {
                seen_exceptions.insert(text.clone());
                continue;
            }
            let again = match request::decode(text) {
                Ok(ClientFrame::Pong(v)) => {
                    let ping = last_ping.take().expect("a pong answers a ping");
                    assert_eq!(v, ping, "{at}: the pong echoes the ping's number");
                    request::encode_pong(&ping)
                }
                Ok(ClientFrame::IdRequest) => primus::encode_id(""),
                Ok(ClientFrame::Request(req)) => {
                    let cr = ClientRequest::from_request(&req)
                        .unwrap_or_else(|| panic!("{at}: not a client-shaped request: {text}"));
                    assert_eq!(cr.message_id(), req.message_id.as_ref().unwrap(), "{at}");
                    request::encode(&cr)
                }
                Err(e) => panic!("{at}: {e}"),
            };
            assert_eq!(&again, text, "{at}");
            rebuilt += 1;
        }
    }
    assert_eq!(rebuilt, 70); // + 24 listed exceptions + 1 binary frame = 95 `out` frames
    let listed: BTreeSet<String> = NOT_FROM_THE_REAL_CLIENT
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(
        seen_exceptions, listed,
        "stale NOT_FROM_THE_REAL_CLIENT entries"
    );
}

#[test]
fn binary_frames_decode_as_a_buffer() {
    let t = transcript::load("binary_frame");
    let out = t.events.iter().find(|e| e.dir == Dir::Out).unwrap();
    let bytes = out.binary.as_deref().unwrap();
    let req = request::decode_binary(bytes);
    assert_eq!(req.verb, Verb::Other("undefined".into()));
    assert_eq!(req.message_id, None);
    let answer = in_frames(&t).nth(1).unwrap();
    let ServerFrame::Response { body, .. } = reply::decode(answer.text()).unwrap() else {
        panic!("not a response")
    };
    assert!(js::same_value(&body["data"], &req.remnant));
}

// ---------------------------------------------------------------------------------------
// Recorded frames quoted in docs/protocol.md (request → answer, ids shortened there)
// ---------------------------------------------------------------------------------------

/// `(request, answer)` pairs quoted as recorded in docs/protocol.md (#verbs to #the-file-verb,
/// and #params).
const PROTOCOL_LIVE_EXCHANGES: &[(&str, &str)] = &[
    // docs/protocol.md#verb-answers
    (
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":"a"}"#,
        r#"{"status":"OK","context":"response","data":true,"messageId":"a"}"#,
    ),
    (
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":"b"}"#,
        r#"{"status":"Error: connection already in this room (defaultRoom)","error":"Error: connection already in this room (defaultRoom)","context":"response","data":{},"messageId":"b"}"#,
    ),
    (
        r#"{"event":"say","message":"hello","messageId":2}"#,
        r#"{"status":"Error: both room and message are required","error":"Error: both room and message are required","context":"response","data":{"message":"hello"},"messageId":2}"#,
    ),
    (
        r#"{"event":"bogus","messageId":7}"#,
        r#"{"status":"Error: verb not found or not allowed (bogus)","error":"Error: verb not found or not allowed (bogus)","context":"response","data":{},"messageId":7}"#,
    ),
    // docs/protocol.md#say (say_null_words)
    (
        r#"{"event":"say","room":"defaultRoom","message":null,"messageId":2}"#,
        r#"{"status":"Error: both room and message are required","error":"Error: both room and message are required","context":"response","data":{"message":null},"messageId":2}"#,
    ),
    (
        r#"{"event":"say","room":"defaultRoom","message":{"toString":1},"messageId":9}"#,
        r#"{"status":"TypeError: Cannot convert object to primitive value","error":"TypeError: Cannot convert object to primitive value","context":"response","data":{"message":{"toString":1}},"messageId":9}"#,
    ),
    // docs/protocol.md#detailsview
    (
        r#"{"event":"detailsView","messageId":7}"#,
        r#"{"status":"OK","context":"response","data":{"id":"686a99fc-…","fingerprint":"686a99fc-…","remoteIP":"::ffff:127.0.0.1","remotePort":48918,"params":{},"connectedAt":1795610084938,"rooms":[],"totalActions":0,"pendingActions":0},"messageId":7}"#,
    ),
    // docs/protocol.md#room-verbs (request reconstructed)
    (
        r#"{"event":"roomView","room":"defaultRoom","messageId":"d9a0…"}"#,
        r#"{"status":"OK","context":"response","data":{"room":"defaultRoom","members":{"686a99fc-…":{"id":"686a99fc-…","joinedAt":1795610085344}},"membersCount":1},"messageId":"d9a0…"}"#,
    ),
    // docs/protocol.md#action-response
    (
        r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#,
        r#"{"randomNumber":0.33123645207835817,"stringRandomNumber":"Your random number is 0.33123645207835817","context":"response","messageId":1}"#,
    ),
    (
        r#"{"event":"action","params":{"action":"cacheTest"},"messageId":3}"#,
        r#"{"error":"key is a required parameter for this action","context":"response","messageId":3}"#,
    ),
    // docs/protocol.md#params (action_formatter_error)
    (
        r#"{"event":"action","params":{"action":"validationTest","number":123},"messageId":1}"#,
        r#"{"error":"Failed formatting number correctly!","context":"response","messageId":1}"#,
    ),
    (
        r#"{"event":"action","params":{"action":"validationTest","string":"hello","number":"abc"},"messageId":3}"#,
        r#"{"error":"Param number is not a valid number!","context":"response","messageId":3}"#,
    ),
    (
        r#"{"event":"action","params":{"action":"validationTest","number":"7"},"messageId":5}"#,
        r#"{"error":"string is a required parameter for this action","context":"response","messageId":5}"#,
    ),
    // docs/protocol.md#the-file-verb (requests reconstructed)
    (
        r#"{"event":"file","file":"simple.html","messageId":1}"#,
        r#"{"content":"<h1>Actionhero</h1>\nI am a flat file …<br />\n","mime":"text/html","length":101,"lastModified":"2026-11-25T12:34:17.862Z","context":"response","messageId":1}"#,
    ),
    (
        r#"{"event":"file","file":"missing.html","messageId":2}"#,
        r#"{"error":"that file is not found","content":null,"mime":"text/html","length":22,"context":"response","messageId":2}"#,
    ),
];

#[test]
fn protocol_live_exchanges_round_trip() {
    for (req_text, answer) in PROTOCOL_LIVE_EXCHANGES {
        let Ok(ClientFrame::Request(req)) = request::decode(req_text) else {
            panic!("{req_text}")
        };
        if req.verb != Verb::Other("bogus".into()) && req.verb.name() != "say" {
            let cr = ClientRequest::from_request(&req).unwrap();
            assert_eq!(request::encode(&cr), *req_text);
        }
        let frame = reply::decode(answer).unwrap();
        assert_eq!(class(&frame), 'R', "{answer}");
        assert_eq!(reply::encode(&frame), *answer);
        assert_eq!(rebuild_response(answer, &frame, Some(&req)), *answer);
    }
}

#[test]
fn protocol_live_standalone_frames() {
    // docs/protocol.md: #open-and-welcome, #say-delivery, #primus-control-tokens, #closing.
    let welcome = r#"{"welcome":"Welcome to the actionhero api","context":"api"}"#;
    assert_eq!(
        reply::decode(welcome).unwrap(),
        ServerFrame::Welcome("Welcome to the actionhero api".into())
    );
    assert_eq!(
        reply::encode_welcome("Welcome to the actionhero api"),
        welcome
    );

    let chat = r#"{"message":"hello world","room":"defaultRoom","from":"686a99fc-…","context":"user","sentAt":1795610085946}"#;
    let ServerFrame::Say(body) = reply::decode(chat).unwrap() else {
        panic!()
    };
    assert_eq!(reply::encode(&ServerFrame::Say(body)), chat);
    let payload = reply::say_payload(
        Value::from("hello world"),
        "defaultRoom",
        "686a99fc-…",
        1795610085946,
    );
    assert_eq!(reply::encode_message(&payload, None), chat);

    let ping = "\"primus::ping::1795610363950\"";
    assert_eq!(
        reply::decode(ping).unwrap(),
        ServerFrame::Ping("1795610363950".into())
    );
    assert_eq!(primus::encode_ping(1795610363950), ping);
    let pong = "\"primus::pong::1795610363950\"";
    assert_eq!(request::encode_pong("1795610363950"), pong);
    assert_eq!(
        request::decode(pong).unwrap(),
        ClientFrame::Pong("1795610363950".into())
    );
    assert_eq!(
        reply::decode(primus::SERVER_CLOSE).unwrap(),
        ServerFrame::ServerClose
    );
    assert_eq!(primus::SERVER_CLOSE, "\"primus::server::close\"");

    // docs/protocol.md#json-encoding: U+2028/U+2029 leave as `\u2028`/`\u2029`, both ways.
    let payload = reply::say_payload(Value::from("a\u{2028}b\u{2029}c"), "defaultRoom", "x", 1);
    let frame = reply::encode_message(&payload, None);
    assert!(
        frame.starts_with(r#"{"message":"a\u2028b\u2029c","#),
        "{frame}"
    );
    let say = ClientRequest::Say {
        room: "defaultRoom".into(),
        message: Value::from("a\u{2028}b\u{2029}c"),
        message_id: 1.into(),
    };
    assert_eq!(
        request::encode(&say),
        r#"{"event":"say","room":"defaultRoom","message":"a\u2028b\u2029c","messageId":1}"#
    );

    // docs/protocol.md#dispatch-and-message-ids: messageId keeps its JSON type, 7 → 7.
    for id in ["7", r#"{"a":1}"#] {
        let text = format!(r#"{{"event":"nope","messageId":{id}}}"#);
        let Ok(ClientFrame::Request(req)) = request::decode(&text) else {
            panic!()
        };
        let answer = reply::encode_verb_error(
            "Error: verb not found or not allowed (nope)",
            &req.remnant,
            req.message_id.as_ref().unwrap(),
        );
        assert!(answer.ends_with(&format!(r#""data":{{}},"messageId":{id}}}"#)));
    }

    // docs/protocol.md#response-envelope: a push without context gets the last inbound id.
    let mut push = Map::new();
    push.insert("hello".into(), Value::from("there"));
    assert_eq!(
        reply::encode_message(&push, Some(&MessageId::from("d9a0…"))),
        r#"{"hello":"there","context":"response","messageId":"d9a0…"}"#
    );

    // docs/protocol.md#chat-hooks: a join hook's refusal.
    let Ok(ClientFrame::Request(req)) =
        request::decode(r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#)
    else {
        panic!()
    };
    let answer = reply::encode_verb_error(
        "Error: joining rooms blocked",
        &req.remnant,
        req.message_id.as_ref().unwrap(),
    );
    assert!(answer.starts_with(
        r#"{"status":"Error: joining rooms blocked","error":"Error: joining rooms blocked","#
    ));

    // docs/protocol.md#say: say words in JavaScript order, integer-like keys first.
    let Ok(ClientFrame::Request(req)) =
        request::decode(r#"{"event":"say","room":"r","1":"first?","message":"m"}"#)
    else {
        panic!()
    };
    let words: Vec<String> = req.words().into_iter().map(js::js_string).collect();
    assert_eq!(words, ["r", "first?", "m"]);
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn in_frames(t: &Transcript) -> impl Iterator<Item = &Event> {
    t.events.iter().filter(|e| e.dir == Dir::In)
}

fn decode_server(t: &Transcript, ev: &Event) -> ServerFrame {
    reply::decode(ev.text()).unwrap_or_else(|e| panic!("{}:{}: {e}", t.name, ev.line))
}

fn class(frame: &ServerFrame) -> char {
    match frame {
        ServerFrame::Welcome(_) => 'W',
        ServerFrame::Response { .. } => 'R',
        ServerFrame::Say(_) => 'S',
        ServerFrame::Ping(_) => 'P',
        ServerFrame::Id(_) => 'I',
        ServerFrame::ServerClose => 'C',
        ServerFrame::Alert(_) => 'A',
        ServerFrame::Api(_) => 'a',
        ServerFrame::Other(_) => '?',
    }
}

/// An independent reading of a request's JSON (what Actionhero's `handleData` does),
/// compared with the codec's decoding.
fn check_request_against_json(at: &str, req: &Request, value: &Value) {
    let Value::Object(obj) = value else {
        assert_eq!(req.verb.name(), "undefined", "{at}");
        assert_eq!(req.message_id, None, "{at}");
        assert_eq!(&req.remnant, value, "{at}");
        return;
    };
    let want_verb = match obj.get("event") {
        Some(Value::String(s)) => s.as_str(),
        None => "undefined",
        Some(other) => panic!("{at}: unexpected event {other}"),
    };
    assert_eq!(req.verb.name(), want_verb, "{at}");
    let want_id = obj.get("messageId").filter(|v| js::truthy(v));
    assert_eq!(
        req.message_id.as_ref().map(MessageId::to_json).as_ref(),
        want_id,
        "{at}"
    );
    let takes_room =
        !matches!(req.verb, Verb::Action | Verb::File) && obj.get("room").is_some_and(js::truthy);
    assert_eq!(req.room.as_ref(), obj.get("room").filter(|_| takes_room));
    let mut rest = obj.clone();
    rest.shift_remove("event");
    rest.shift_remove("messageId");
    if takes_room {
        rest.shift_remove("room");
    }
    assert_eq!(req.remnant, Value::Object(rest), "{at}");
}

/// For every connection: its `in` events, and which request each answer answers.
fn pair_requests_and_answers(t: &Transcript) -> Vec<(Vec<&Event>, Pairs)> {
    t.connections()
        .into_iter()
        .map(|conn| {
            let mut pending: Vec<(usize, Request)> = Vec::new();
            let mut pairs = Pairs::default();
            let mut ins = Vec::new();
            for ev in t.events_of(conn) {
                let at = format!("{}:{}", t.name, ev.line);
                match ev.dir {
                    Dir::Out => {
                        let req = match (&ev.text, &ev.binary) {
                            (Some(text), _) => match request::decode(text) {
                                Ok(ClientFrame::Request(r)) => r,
                                Ok(ClientFrame::Pong(_) | ClientFrame::IdRequest) | Err(_) => {
                                    continue
                                }
                            },
                            (None, Some(bytes)) => request::decode_binary(bytes),
                            (None, None) => unreachable!(),
                        };
                        pending.push((ev.line, req));
                    }
                    Dir::In => {
                        let frame = decode_server(t, ev);
                        let slot = match &frame {
                            ServerFrame::Response { message_id, .. } => {
                                let id = message_id.as_ref().expect("answers carry an id");
                                pending
                                    .iter()
                                    .position(|(_, r)| r.message_id.as_ref() == Some(id))
                                    .or_else(|| {
                                        assert!(is_uuid_v4(&id.to_string()), "{at}: {id}");
                                        pending.iter().position(|(_, r)| r.message_id.is_none())
                                    })
                            }
                            ServerFrame::ServerClose => {
                                pending.iter().position(|(_, r)| r.verb == Verb::Quit)
                            }
                            _ => None,
                        };
                        if let Some(i) = slot {
                            let (_, req) = pending.remove(i);
                            pairs.0.push((ev.line, req));
                        } else {
                            assert!(
                                !matches!(
                                    frame,
                                    ServerFrame::Response { .. } | ServerFrame::ServerClose
                                ),
                                "{at}: an answer to no request"
                            );
                        }
                        ins.push(ev);
                    }
                    Dir::Open | Dir::Close | Dir::Silence => {}
                }
            }
            // Only the `null` frame, which kills the reference, stays unanswered.
            for (line, req) in &pending {
                assert_eq!(
                    (t.name.as_str(), &req.remnant),
                    ("null_frame_crash", &Value::Null),
                    "{}:{line}: request never answered",
                    t.name
                );
            }
            (ins, pairs)
        })
        .collect()
}

/// `(line of the answer, the request it answers)`.
#[derive(Default)]
struct Pairs(Vec<(usize, Request)>);

impl Pairs {
    fn request_for(&self, answer_line: usize) -> Option<&Request> {
        self.0
            .iter()
            .find(|(line, _)| *line == answer_line)
            .map(|(_, r)| r)
    }
}

/// Rebuilds a recorded server frame from its semantic parts with the server encoders.
fn rebuild_server_frame(t: &Transcript, ev: &Event, req: Option<&Request>) -> String {
    let at = format!("{}:{}", t.name, ev.line);
    let frame = decode_server(t, ev);
    match &frame {
        ServerFrame::Welcome(text) => {
            assert_eq!(text, &t.header.config.welcome, "{at}");
            reply::encode_welcome(text)
        }
        ServerFrame::Response { .. } => {
            let req = req.unwrap_or_else(|| panic!("{at}: unpaired answer"));
            rebuild_response(ev.text(), &frame, Some(req))
        }
        ServerFrame::Say(body) => {
            let sent_at = body["sentAt"].as_u64().expect("sentAt ms");
            let from = body["from"].as_str().expect("from");
            assert!(is_uuid_v4(from), "{at}");
            let payload = reply::say_payload(
                body["message"].clone(),
                body["room"].as_str().expect("room"),
                from,
                sent_at,
            );
            reply::encode_message(&payload, None)
        }
        ServerFrame::Ping(v) => primus::encode_ping(v.parse().expect("ping ms")),
        ServerFrame::Id(id) => {
            assert!(is_nanoid(id), "{at}: {id}");
            primus::encode_id(id)
        }
        ServerFrame::ServerClose => {
            assert_eq!(req.map(|r| &r.verb), Some(&Verb::Quit), "{at}");
            primus::SERVER_CLOSE.to_owned()
        }
        other => panic!("{at}: unexpected frame {other:?}"),
    }
}

/// Rebuilds a `context: "response"` frame answering `req`.
fn rebuild_response(text: &str, frame: &ServerFrame, req: Option<&Request>) -> String {
    let ServerFrame::Response { message_id, body } = frame else {
        panic!("not a response: {text}")
    };
    let id = message_id.as_ref().expect("an answer carries a messageId");
    if let Some(want) = req.and_then(|r| r.message_id.as_ref()) {
        assert_eq!(id, want, "{text}: the request's id is echoed");
    } else {
        assert!(is_uuid_v4(&id.to_string()), "{text}: a fresh uuid");
    }
    let verb = req.map(|r| &r.verb);
    match body.get("status").and_then(Value::as_str) {
        Some("OK") => reply::encode_verb_ok(body.get("data"), id),
        Some(error) => {
            assert_eq!(body.get("error").and_then(Value::as_str), Some(error));
            let req = req.expect("a verb error answers a request");
            if let Some(v) = error.strip_prefix("Error: verb not found or not allowed (") {
                assert_eq!(Some(req.verb.name()), v.strip_suffix(')'), "{text}");
            }
            assert!(js::same_value(&body["data"], &req.remnant), "{text}");
            reply::encode_verb_error(error, &req.remnant, id)
        }
        None if body.contains_key("content") => {
            if let Some(v) = verb {
                assert_eq!(v, &Verb::File, "{text}");
            }
            if body.get("error").and_then(Value::as_str) == Some(reply::FILE_NOT_FOUND) {
                return reply::encode_file_not_found(id);
            }
            reply::encode_file(
                body["content"].as_str().expect("content"),
                body["mime"].as_str(),
                body["length"].as_u64().expect("length"),
                body["lastModified"].as_str().expect("lastModified"),
                id,
            )
        }
        None => {
            if let Some(v) = verb {
                assert_eq!(v, &Verb::Action, "{text}");
            }
            let mut fields = body.clone();
            fields.shift_remove("context");
            fields.shift_remove("messageId");
            let error = fields.shift_remove("error");
            reply::encode_action_response(&fields, error.as_ref().and_then(Value::as_str), id)
        }
    }
}

/// The recorded frame with every volatile value replaced by a different one of the
/// same kind (as a server under test would produce on another run).
fn with_fresh_volatile_values(t: &Transcript, ev: &Event) -> String {
    let frame = decode_server(t, ev);
    let fresh_id = "0b9e5b2c-1d2e-4f3a-8b4c-5d6e7f8091a2";
    match frame {
        ServerFrame::Ping(v) => primus::encode_ping(v.parse::<u64>().unwrap() + 7),
        ServerFrame::Id(_) => primus::encode_id("AAAAAAAAAAAAAAAAAAAAA"),
        ServerFrame::Response { body, .. } | ServerFrame::Say(body) => {
            let mut v = Value::Object(body);
            for p in &ev.volatile {
                let slot = v.pointer_mut(p).expect("pointer resolves");
                *slot = match slot {
                    Value::Number(_) => Value::from(1234),
                    Value::String(s) if is_uuid_v4(s) => Value::from(fresh_id),
                    Value::String(_) => Value::from("fresh"),
                    Value::Object(_) => serde_json::json!({"x": {"id": "x", "joinedAt": 1}}),
                    other => panic!("{}:{}: {other}", t.name, ev.line),
                };
            }
            let Value::Object(body) = v else {
                unreachable!()
            };
            // Re-encoded through the envelope, as the server would send it.
            reply::encode_message(&body, None)
        }
        other => panic!("{}:{}: volatile {other:?}", t.name, ev.line),
    }
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

fn is_nanoid(s: &str) -> bool {
    s.len() == 21
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}
