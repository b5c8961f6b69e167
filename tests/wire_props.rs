//! Property tests of the wire codec: the JavaScript-exact JSON writer, server frames and
//! client requests round-trip, `reply::glance` agrees with `reply::decode`, and decoding
//! never panics.
//!
//! 256 cases per property for CI; `PROPTEST_CASES` sets another count (see
//! `tests/support/cases.rs`).

// Test code: a panic is a failed assertion.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cases.rs"]
mod cases;

use actionhero_ws::wire::js;
use actionhero_ws::wire::primus;
use actionhero_ws::wire::reply::{self, ServerFrame};
use actionhero_ws::wire::request::{self, ClientFrame, ClientRequest, Verb};
use actionhero_ws::MessageId;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Characters that exercise escaping: controls, quotes, backslash, the two line
/// separators Primus escapes, non-ASCII and astral characters, and anything else.
fn json_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        4 => proptest::char::range('a', 'z'),
        2 => (0u8..0x20).prop_map(char::from),
        1 => Just('\u{2028}'),
        1 => Just('\u{2029}'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('/'),
        1 => Just('\u{7f}'),
        1 => Just('é'),
        1 => Just('😀'),
        1 => Just('\u{feff}'),
    ]
}

fn json_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(json_char(), 0..12).prop_map(String::from_iter)
}

/// Object keys, including array-index-like ones (JavaScript enumerates those first).
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => json_string(),
        1 => (0u32..20).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["01", "-1", "4294967294", "4294967295", "1.5", "0"])
            .prop_map(str::to_owned),
    ]
}

/// The text of a client frame object, repeated keys and odd values included, with the
/// fields the decoder treats apart (`event`, `messageId`, `room`, …) likely.
fn client_object_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        3 => prop::sample::select(vec![
            "event", "messageId", "room", "params", "message", "file", "toString",
        ])
        .prop_map(str::to_owned),
        1 => json_key(),
    ];
    let event = prop::sample::select(vec![
        "\"action\"",
        "\"say\"",
        "\"roomAdd\"",
        "\"detailsView\"",
        "\"ac\\u0074ion\"",
        "7",
        "null",
        "[\"say\"]",
    ])
    .prop_map(str::to_owned);
    let value = prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_string(&v).unwrap()),
        1 => event,
    ];
    (
        proptest::collection::vec((key, value), 0..7),
        prop::bool::ANY,
    )
        .prop_map(|(fields, spaced)| {
            let sep = if spaced { " , " } else { "," };
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                .collect();
            if spaced {
                format!(" {{ {} }} ", body.join(sep))
            } else {
                format!("{{{}}}", body.join(sep))
            }
        })
}

/// The text of plain JSON, what the decoder reads without serde_json (strings without
/// escapes, integers, literals, nesting), sometimes one step outside it (an escape, a
/// fraction, a minus sign, a 16-digit integer, deep nesting), with repeated keys.
fn plain_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        (0u64..1_000_000_000_000_000).prop_map(|n| n.to_string()),
        (0u64..20).prop_map(|n| n.to_string()),
        "[a-zé0-9 :]{0,8}".prop_map(|s| format!("\"{s}\"")),
        prop::sample::select(vec![
            "\"action\"",
            "\"say\"",
            "\"roomAdd\"",
            "\"\"",
            "0",
            "-1",
            "1.5",
            "1e2",
            "1000000000000000",
            "\"a\\nb\"",
            "[[[[[[[[[1]]]]]]]]]",
            "-0",
        ])
        .prop_map(str::to_owned),
    ];
    let key = || {
        prop::sample::select(vec![
            "event",
            "messageId",
            "room",
            "params",
            "message",
            "action",
            "1",
            "0",
            "",
        ])
    };
    let value = leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((key(), inner), 0..4).prop_map(|fields| {
                let body: Vec<String> =
                    fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    });
    (
        proptest::collection::vec((key(), value), 0..6),
        prop::bool::ANY,
    )
        .prop_map(|(fields, spaced)| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            if spaced {
                format!(" {{ {} \n}}\t", body.join(" ,\r\n"))
            } else {
                format!("{{{}}}", body.join(","))
            }
        })
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
        2 => -1e3f64..1e3,
        1 => 0f64..1.0,
        1 => prop::sample::select(vec![
            0.1, -0.0, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 123456789012345680000.0,
            0.000001, 1e-6, 9007199254740993.0, 0.33123645207835817,
        ]),
    ]
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        finite_f64().prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        json_string().prop_map(Value::String),
    ]
}

/// Any JSON value, bounded in depth and size.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            json_object_of(inner).prop_map(Value::Object),
        ]
    })
}

fn json_object_of(
    inner: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((json_key(), inner), 0..6)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    json_object_of(json_value())
}

/// Ids the crate writes: the client's counter, strings, and (echoed by the server)
/// any truthy JSON value.
fn message_id() -> impl Strategy<Value = MessageId> {
    prop_oneof![
        3 => (1u64..=(1 << 53)).prop_map(MessageId::Number),
        2 => json_string().prop_filter("truthy", |s| !s.is_empty()).prop_map(|s| MessageId::from(s.as_str())),
        1 => json_value().prop_filter_map("truthy", |v| MessageId::from_json(&v)),
    ]
}

/// Ids the real client sends (a counter from 1; an app may pick a string).
fn client_message_id() -> impl Strategy<Value = MessageId> {
    prop_oneof![
        3 => (1u64..=(1 << 53)).prop_map(MessageId::Number),
        1 => json_string().prop_filter("truthy", |s| !s.is_empty()).prop_map(|s| MessageId::from(s.as_str())),
    ]
}

/// A frame text produced by the crate's server-side encoders.
fn server_frame_text() -> impl Strategy<Value = String> {
    let uuid = "3101966a-2994-4fbc-98ef-2922d4093099";
    prop_oneof![
        json_string()
            .prop_filter("non-empty", |s| !s.is_empty())
            .prop_map(|s| reply::encode_welcome(&s)),
        (proptest::option::of(json_value()), message_id())
            .prop_map(|(data, id)| reply::encode_verb_ok(data.as_ref(), &id)),
        (json_string(), json_value(), message_id())
            .prop_map(|(e, remnant, id)| reply::encode_verb_error(&e, &remnant, &id)),
        (
            json_object(),
            proptest::option::of(json_string()),
            message_id()
        )
            .prop_map(|(fields, error, id)| reply::encode_action_response(
                &fields,
                error.as_deref(),
                &id
            )),
        (json_object(), proptest::option::of(message_id()))
            .prop_map(|(m, id)| reply::encode_message(&m, id.as_ref())),
        (json_value(), json_string(), any::<u64>()).prop_map(move |(message, room, at)| {
            reply::encode_message(&reply::say_payload(message, &room, uuid, at), None)
        }),
        json_value().prop_map(|m| reply::encode_alert(&m)),
        (
            json_string(),
            proptest::option::of(json_string()),
            any::<u64>(),
            json_string(),
            message_id()
        )
            .prop_map(|(content, mime, len, date, id)| {
                reply::encode_file(&content, mime.as_deref(), len, &date, &id)
            }),
        message_id().prop_map(|id| reply::encode_file_not_found(&id)),
        any::<u64>().prop_map(primus::encode_ping),
        "[A-Za-z0-9_-]{21}".prop_map(|id| primus::encode_id(&id)),
        Just(primus::SERVER_CLOSE.to_owned()),
    ]
}

/// A request as ActionheroWebsocketClient builds it.
fn client_request() -> impl Strategy<Value = ClientRequest> {
    let id = client_message_id;
    prop_oneof![
        (json_object(), json_string(), id()).prop_map(|(mut params, name, message_id)| {
            params.insert("action".into(), Value::String(name));
            ClientRequest::Action { params, message_id }
        }),
        (json_string(), json_value(), id()).prop_map(|(room, message, message_id)| {
            ClientRequest::Say {
                room,
                message,
                message_id,
            }
        }),
        (json_string(), id())
            .prop_map(|(file, message_id)| ClientRequest::File { file, message_id }),
        (json_string(), id())
            .prop_map(|(room, message_id)| ClientRequest::RoomAdd { room, message_id }),
        (json_string(), id())
            .prop_map(|(room, message_id)| ClientRequest::RoomLeave { room, message_id }),
        (json_string(), id())
            .prop_map(|(room, message_id)| ClientRequest::RoomView { room, message_id }),
        id().prop_map(|message_id| ClientRequest::DetailsView { message_id }),
        id().prop_map(|message_id| ClientRequest::Documentation { message_id }),
        id().prop_map(|message_id| ClientRequest::Quit { message_id }),
    ]
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    // 256 cases for CI; PROPTEST_CASES sets another count.
    #![proptest_config(cases::config(256))]

    /// `write_json` output is JSON that parses back to the same value, with keys in
    /// JavaScript order, and never contains a raw control character, U+2028 or U+2029.
    #[test]
    fn write_json_parses_back(v in json_value()) {
        let text = js::to_json_string(&v);
        let parsed: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        prop_assert!(same_in_js_order(&v, &parsed), "{v:?}\n{text}\n{parsed:?}");
        prop_assert!(!text.contains(['\u{2028}', '\u{2029}']), "{text}");
        prop_assert!(!text.chars().any(|c| c < ' '), "{text}");
        // Writing what was read gives the same bytes.
        prop_assert_eq!(js::to_json_string(&parsed), text);
    }

    /// `write_f64` gives JavaScript's shortest form, which reads back as the same double,
    /// with Rust's float parser and with serde_json's (what `decode` uses).
    #[test]
    fn write_f64_round_trips(f in finite_f64()) {
        let mut s = String::new();
        js::write_f64(&mut s, f);
        prop_assert_eq!(s.parse::<f64>().unwrap(), f, "{}", s);
        let via_serde: f64 = serde_json::from_str(&s).unwrap();
        prop_assert_eq!(via_serde.to_bits(), if f == 0.0 { 0.0f64.to_bits() } else { f.to_bits() }, "{}", s);
        prop_assert!(!s.contains("e+0") && !s.contains("e-0") && !s.ends_with('.'), "{}", s);
    }

    /// Frames the server encoders produce decode to a frame that encodes back to the
    /// same bytes and decodes to the same value.
    #[test]
    fn server_frames_round_trip(text in server_frame_text()) {
        let x = reply::decode(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        prop_assert_eq!(&reply::encode(&x), &text);
        prop_assert_eq!(reply::decode(&reply::encode(&x)).unwrap(), x);
    }

    /// The object fast path of `request::decode` takes a frame apart exactly as the
    /// general path does from the parsed value (repeated keys, falsy rooms, odd events).
    #[test]
    fn object_fast_path_matches_value_path(text in client_object_text()) {
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        prop_assert_eq!(request::decode(&text).unwrap(), request::decode_value(value), "{}", text);
    }

    /// Plain frames (read without serde_json) and frames one byte away from them decode
    /// exactly as serde_json's value does, and are refused exactly when serde_json
    /// refuses them.
    #[test]
    fn plain_reader_matches_value_path(text in plain_text(), cut in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut bytes = text.clone().into_bytes();
        let i = cut.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
        if let Some(at) = bytes.get_mut(i) {
            *at = b;
        }
        let mangled = String::from_utf8_lossy(&bytes).into_owned();
        for t in [text, mangled] {
            // The wire_server fuzz body: also the server machine's own decode of actions.
            actionhero_ws::fuzz::wire_server(t.as_bytes());
            match serde_json::from_str::<Value>(&t) {
                // Debug shows maps in insertion order (their `==` ignores it).
                Ok(value) => prop_assert_eq!(
                    format!("{:?}", request::decode(&t).unwrap()),
                    format!("{:?}", request::decode_value(value)),
                    "{}", t
                ),
                Err(_) => prop_assert!(request::decode(&t).is_err(), "{}", t),
            }
        }
    }

    /// Client requests decode, on the server side, to the verb, id and fields the client
    /// put in, and are recognised as client-shaped.
    #[test]
    fn client_requests_round_trip(req in client_request()) {
        let text = request::encode(&req);
        let Ok(ClientFrame::Request(got)) = request::decode(&text) else {
            panic!("not a request: {text}")
        };
        prop_assert_eq!(got.message_id.as_ref(), Some(req.message_id()));
        let (verb, room) = match &req {
            ClientRequest::Action { params, .. } => {
                prop_assert!(js::same_object(&got.action_params(), params));
                (Verb::Action, None)
            }
            ClientRequest::Say { room, message, .. } => {
                let rest = got.remnant.as_object().unwrap();
                prop_assert!(js::same_value(&rest["message"], message));
                (Verb::Say, Some(room))
            }
            ClientRequest::File { file, .. } => {
                prop_assert_eq!(got.file(), Some(&Value::String(file.clone())));
                (Verb::File, None)
            }
            ClientRequest::RoomAdd { room, .. } => (Verb::RoomAdd, Some(room)),
            ClientRequest::RoomLeave { room, .. } => (Verb::RoomLeave, Some(room)),
            ClientRequest::RoomView { room, .. } => (Verb::RoomView, Some(room)),
            ClientRequest::DetailsView { .. } => (Verb::DetailsView, None),
            ClientRequest::Documentation { .. } => (Verb::Documentation, None),
            ClientRequest::Quit { .. } => (Verb::Quit, None),
        };
        prop_assert_eq!(&got.verb, &verb);
        if let Some(room) = room {
            // A truthy room leads the verb's words; "" stays in the remnant.
            let want = Value::String(room.clone());
            if room.is_empty() {
                prop_assert_eq!(got.room.as_ref(), None);
                prop_assert_eq!(got.remnant.get("room"), Some(&want));
            } else {
                prop_assert_eq!(got.room.as_ref(), Some(&want));
                prop_assert_eq!(got.words()[0], &want);
            }
        }
        let again = ClientRequest::from_request(&got).expect("client-shaped");
        prop_assert_eq!(request::encode(&again), text);
    }

    /// `glance` tells what `decode` and `response_error` tell, for the frames the server
    /// writes, for any JSON value, and for JSON with a byte changed.
    #[test]
    fn glance_agrees_with_decode(
        frame in server_frame_text(),
        v in json_value(),
        cut in any::<prop::sample::Index>(),
        b in any::<u8>(),
    ) {
        let any_json = js::to_json_string(&v);
        let mut mangled = any_json.clone().into_bytes();
        let i = cut.index(mangled.len());
        mangled[i] = b;
        let mangled = String::from_utf8_lossy(&mangled).into_owned();
        for text in [frame, any_json, mangled] {
            prop_assert_eq!(reply::glance(&text), glance_by_decoding(&text), "{}", text);
        }
    }

    /// A pong echoes the ping's number the way the JavaScript client re-serialises it.
    #[test]
    fn pong_answers_ping(ms in 0u64..(1 << 53)) {
        let ping = primus::encode_ping(ms);
        let Ok(ServerFrame::Ping(v)) = reply::decode(&ping) else { panic!("{ping}") };
        prop_assert_eq!(request::decode(&request::encode_pong(&v)).unwrap(), ClientFrame::Pong(ms.to_string()));
    }

    /// Decoding never panics, whatever the text; valid JSON always decodes.
    #[test]
    fn decode_never_panics(text in any::<String>()) {
        let json_ok = serde_json::from_str::<Value>(&text).is_ok();
        prop_assert_eq!(request::decode(&text).is_ok(), json_ok);
        prop_assert_eq!(reply::decode(&text).is_ok(), json_ok);
    }

    /// Decoding never panics on JSON-like text either (values with a byte cut or swapped),
    /// and never on binary frames.
    #[test]
    fn decode_never_panics_on_near_json(v in json_value(), cut in any::<prop::sample::Index>(), b in any::<u8>()) {
        let text = js::to_json_string(&v);
        let mut bytes = text.into_bytes();
        let i = cut.index(bytes.len());
        bytes[i] = b;
        let mangled = String::from_utf8_lossy(&bytes);
        let _ = request::decode(&mangled);
        let _ = reply::decode(&mangled);
        let req = request::decode_binary(&bytes);
        prop_assert_eq!(req.verb.name(), "undefined");
    }
}

/// What `reply::glance` must say, worked out from the decoded frame.
fn glance_by_decoding(text: &str) -> reply::Glance<'_> {
    match reply::decode(text) {
        Err(_) => reply::Glance::Other,
        // A ping written with escapes is left to `decode`.
        Ok(ServerFrame::Ping(_)) if text.contains('\\') => reply::Glance::Other,
        Ok(ServerFrame::Ping(v)) => {
            // The value ends the string, which ends at the last quote.
            let end = text.rfind('"').expect("a string");
            reply::Glance::Ping(&text[end - v.len()..end])
        }
        Ok(
            ServerFrame::Response { body, .. }
            | ServerFrame::Say(body)
            | ServerFrame::Alert(body)
            | ServerFrame::Api(body),
        ) => glance_object(&body),
        Ok(ServerFrame::Other(Value::Object(body))) => glance_object(&body),
        Ok(ServerFrame::Welcome(_)) => {
            let Ok(Value::Object(body)) = serde_json::from_str(text) else {
                panic!("a welcome is an object: {text}")
            };
            glance_object(&body)
        }
        Ok(ServerFrame::Id(_) | ServerFrame::ServerClose | ServerFrame::Other(_)) => {
            reply::Glance::Other
        }
    }
}

fn glance_object(body: &Map<String, Value>) -> reply::Glance<'static> {
    let message_id = match body.get("messageId").and_then(MessageId::from_json) {
        Some(MessageId::Number(n)) => Some(n),
        _ => None,
    };
    let error = actionhero_ws::client::response_error(&Value::Object(body.clone())).is_some();
    reply::Glance::Object { message_id, error }
}

/// `a` and `b` are the same JavaScript value and `b`'s object keys are in the order
/// JavaScript enumerates `a`'s (numbers compared as doubles).
fn same_in_js_order(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let want: Vec<&str> = js::js_key_order(x);
            let got: Vec<&str> = y.keys().map(String::as_str).collect();
            want == got && want.iter().all(|k| same_in_js_order(&x[*k], &y[*k]))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_in_js_order(x, y))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
