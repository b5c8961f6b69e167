//! UNSTABLE: not public API. Fuzz bodies as plain functions of `&[u8]`, called by the
//! `fuzz/` targets and by `tests/fuzz_seeds.rs`, which replays every committed seed.

use crate::ids::MessageId;
use crate::wire::js;
use crate::wire::primus;
use crate::wire::reply::{self, ServerFrame};
use crate::wire::request::{self, ClientFrame, ClientRequest, Request};

/// Server side of the wire codec: `data` is one inbound client message (text when it is
/// UTF-8, else a binary frame). Decoding gives a frame or `InvalidJson` and never
/// panics; every decoded request can be taken apart (`words`, `action_params`, `file`)
/// and answered, and the answers the server encodes read back on the client side as
/// what was sent. A client-shaped request re-encodes to one that decodes the same.
pub fn wire_server(data: &[u8]) {
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
            Ok(ClientFrame::Request(req)) => req,
        },
        Err(_) => request::decode_binary(data),
    };
    check_request(&req);
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
