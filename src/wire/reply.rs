//! Server → client frames: encoded by the server, decoded by the client.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::js;
use super::primus::{self, Token};
use super::WireError;
use crate::ids::MessageId;

/// `{"welcome":<text>,"context":"api"}`.
pub fn encode_welcome(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str("{\"welcome\":");
    js::write_json_str(&mut out, text);
    out.push_str(",\"context\":\"api\"}");
    out
}

/// A verb success: `{"status":"OK","context":"response","data":<data>,"messageId":<id>}`,
/// `data` omitted when `None` (say).
pub fn encode_verb_ok(data: Option<&Value>, id: &MessageId) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("{\"status\":\"OK\",\"context\":\"response\"");
    if let Some(data) = data {
        out.push_str(",\"data\":");
        js::write_json(&mut out, data);
    }
    out.push_str(",\"messageId\":");
    id.write_json(&mut out);
    out.push('}');
    out
}

/// A verb failure. `error` is the full JavaScript error string (`Error: …`,
/// `TypeError: …`); `remnant` is the request minus `event`, `messageId` and a truthy
/// `room`.
pub fn encode_verb_error(error: &str, remnant: &Value, id: &MessageId) -> String {
    let mut out = String::with_capacity(2 * error.len() + 64);
    out.push_str("{\"status\":");
    js::write_json_str(&mut out, error);
    out.push_str(",\"error\":");
    js::write_json_str(&mut out, error);
    out.push_str(",\"context\":\"response\",\"data\":");
    js::write_json(&mut out, remnant);
    out.push_str(",\"messageId\":");
    id.write_json(&mut out);
    out.push('}');
    out
}

/// Encodes a message through Actionhero's websocket `sendMessage` envelope: `context`
/// is added as `"response"` when missing or falsy, and a `"response"` message without
/// a truthy `messageId` gets `id`. Keys the message already has keep their position;
/// like every object this crate writes, array-index keys (`"1"`) come first.
pub fn encode_message(message: &Map<String, Value>, id: Option<&MessageId>) -> String {
    // Typical action responses are 120-200 bytes: one allocation, no regrowth.
    let mut out = String::with_capacity(256);
    write_message(&mut out, message, id);
    out
}

/// Appends what [`encode_message`] returns.
pub fn write_message(out: &mut String, message: &Map<String, Value>, id: Option<&MessageId>) {
    // One pass over the (small) map instead of a hash lookup per question.
    let (mut context, mut message_id, mut index_keys) = (None, None, false);
    for (k, v) in message {
        match k.as_str() {
            "context" => context = Some(v),
            "messageId" => message_id = Some(v),
            k => index_keys |= js::is_array_index(k),
        }
    }
    let context_ok = context.is_some_and(js::truthy);
    let is_response = match context {
        Some(Value::String(c)) => c == "response",
        Some(v) => !js::truthy(v),
        None => true,
    };
    let id_ok = message_id.is_some_and(js::truthy);
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    let mut entry = |out: &mut String, k: &str, v: &Value| {
        sep(out);
        js::write_json_str(out, k);
        out.push(':');
        match (k, id) {
            ("context", _) if !context_ok => out.push_str("\"response\""),
            ("messageId", Some(id)) if is_response && !id_ok => id.write_json(out),
            _ => js::write_json(out, v),
        }
    };
    // JavaScript order puts array-index keys first; without any, it is insertion order.
    if index_keys {
        for (k, v) in js::js_entries(message) {
            entry(out, k, v);
        }
    } else {
        for (k, v) in message {
            entry(out, k, v);
        }
    }
    if context.is_none() {
        sep(out);
        out.push_str("\"context\":\"response\"");
    }
    if is_response && message_id.is_none() {
        if let Some(id) = id {
            sep(out);
            out.push_str("\"messageId\":");
            id.write_json(out);
        }
    }
    out.push('}');
}

/// An action response: the action's fields, `error` (a bare message) when it failed and
/// the fields have none, then the envelope of [`encode_message`].
pub fn encode_action_response(
    fields: &Map<String, Value>,
    error: Option<&str>,
    id: &MessageId,
) -> String {
    match added_error(fields, error) {
        Some(err) => {
            let mut with_error = fields.clone();
            with_error.insert("error".into(), Value::String(err.into()));
            encode_message(&with_error, Some(id))
        }
        None => encode_message(fields, Some(id)),
    }
}

/// Appends what [`encode_action_response`] returns for a failure without fields:
/// `{"error":<message>,"context":"response","messageId":<id>}`.
pub(crate) fn write_action_error(out: &mut String, message: &str, id: &MessageId) {
    out.push_str("{\"error\":");
    js::write_json_str(out, message);
    out.push_str(",\"context\":\"response\",\"messageId\":");
    id.write_json(out);
    out.push('}');
}

/// The `error` a failed action's response adds: its message, unless the action's own
/// fields already carry a truthy `error`, which then stands (WebSocket and web alike).
pub(crate) fn added_error<'a>(
    fields: &Map<String, Value>,
    error: Option<&'a str>,
) -> Option<&'a str> {
    error.filter(|_| !fields.get("error").is_some_and(js::truthy))
}

/// A chat message payload `{message, room, from, context:"user", sentAt}`.
pub fn say_payload(message: Value, room: &str, from: &str, sent_at_ms: u64) -> Map<String, Value> {
    let mut m = Map::with_capacity(5);
    m.insert("message".into(), message);
    m.insert("room".into(), Value::String(room.into()));
    m.insert("from".into(), Value::String(from.into()));
    m.insert("context".into(), Value::String("user".into()));
    m.insert("sentAt".into(), Value::from(sent_at_ms));
    m
}

/// An alert pushed to one connection: `{"message":<message>,"context":"alert"}`.
pub fn encode_alert(message: &Value) -> String {
    let mut out = String::with_capacity(48);
    out.push_str("{\"message\":");
    js::write_json(&mut out, message);
    out.push_str(",\"context\":\"alert\"}");
    out
}

/// A found file: `{"content":…,"mime":…,"length":…,"lastModified":"<ISO>","context":"response","messageId":…}`.
pub fn encode_file(
    content: &str,
    mime: Option<&str>,
    length: u64,
    last_modified_iso: &str,
    id: &MessageId,
) -> String {
    let mut out = String::with_capacity(content.len() + 128);
    out.push_str("{\"content\":");
    js::write_json_str(&mut out, content);
    out.push_str(",\"mime\":");
    match mime {
        Some(m) => js::write_json_str(&mut out, m),
        None => out.push_str("null"),
    }
    out.push_str(",\"length\":");
    js::write_number(&mut out, &length.into());
    out.push_str(",\"lastModified\":");
    js::write_json_str(&mut out, last_modified_iso);
    out.push_str(",\"context\":\"response\",\"messageId\":");
    id.write_json(&mut out);
    out.push('}');
    out
}

/// The error text of a file that cannot be served.
pub const FILE_NOT_FOUND: &str = "that file is not found";

/// The not-found file frame:
/// `{"error":"that file is not found","content":null,"mime":"text/html","length":22,…}`.
pub fn encode_file_not_found(id: &MessageId) -> String {
    let mut out = String::with_capacity(112);
    out.push_str("{\"error\":\"that file is not found\",\"content\":null,\"mime\":\"text/html\",\"length\":22,\"context\":\"response\",\"messageId\":");
    id.write_json(&mut out);
    out.push('}');
    out
}

/// One decoded server → client frame, routed as ActionheroWebsocketClient routes it.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerFrame {
    /// `primus::ping::<value>`: answer with a pong carrying the same number.
    Ping(String),
    /// `primus::id::<id>`.
    Id(String),
    /// `primus::server::close`: the server ends the connection; do not reconnect.
    ServerClose,
    /// `context: "response"`: the answer to request `message_id`.
    Response {
        /// The response's `messageId` (`None` when missing or falsy).
        message_id: Option<MessageId>,
        /// The whole response object.
        body: Map<String, Value>,
    },
    /// `context: "user"`: a chat message.
    Say(Map<String, Value>),
    /// `context: "alert"`.
    Alert(Map<String, Value>),
    /// `context: "api"` with a non-empty string `welcome`: the welcome text.
    Welcome(String),
    /// Any other `context: "api"` message (a non-string `welcome` included).
    Api(Map<String, Value>),
    /// Anything else (other contexts, non-objects, unknown `primus::` strings).
    Other(Value),
}

/// Decodes one server → client text message.
///
/// # Errors
/// [`WireError::InvalidJson`] when `text` is not JSON (Primus drops such frames).
pub fn decode(text: &str) -> Result<ServerFrame, WireError> {
    let value: Value = serde_json::from_str(text).map_err(|e| WireError::InvalidJson {
        line: e.line(),
        column: e.column(),
    })?;
    Ok(decode_value(value))
}

/// Decodes an already parsed JSON value (see [`decode`]).
pub fn decode_value(value: Value) -> ServerFrame {
    let map = match value {
        Value::String(s) => {
            return match primus::parse(&s) {
                Some(Token::Ping(v)) => ServerFrame::Ping(v.to_string()),
                Some(Token::Id(v)) => ServerFrame::Id(v.to_string()),
                Some(Token::ServerClose) => ServerFrame::ServerClose,
                Some(Token::Pong(_) | Token::Other { .. }) | None => {
                    ServerFrame::Other(Value::String(s))
                }
            }
        }
        Value::Object(map) => map,
        other => return ServerFrame::Other(other),
    };
    match map.get("context").and_then(Value::as_str) {
        Some("response") => ServerFrame::Response {
            message_id: map.get("messageId").and_then(MessageId::from_json),
            body: map,
        },
        Some("user") => ServerFrame::Say(map),
        Some("alert") => ServerFrame::Alert(map),
        Some("api") => match map.get("welcome") {
            // Only a string: the reference client would also take e.g. `[]` as a
            // welcome, but its text (`String([])` is "") could not be re-encoded as one.
            Some(Value::String(w)) if !w.is_empty() => ServerFrame::Welcome(w.clone()),
            _ => ServerFrame::Api(map),
        },
        _ => ServerFrame::Other(Value::Object(map)),
    }
}

/// Encodes a decoded server frame back to text (the inverse of [`decode`] for frames
/// this crate produces; used by tests and the fuzz round-trip).
pub fn encode(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Ping(v) => primus_text("ping", v),
        ServerFrame::Id(v) => primus_text("id", v),
        ServerFrame::ServerClose => primus::SERVER_CLOSE.to_string(),
        ServerFrame::Response { body, .. }
        | ServerFrame::Say(body)
        | ServerFrame::Alert(body)
        | ServerFrame::Api(body) => {
            let mut out = String::new();
            js::write_object(&mut out, body);
            out
        }
        ServerFrame::Welcome(text) => encode_welcome(text),
        ServerFrame::Other(v) => js::to_json_string(v),
    }
}

fn primus_text(kind: &str, value: &str) -> String {
    js::to_json_string(&Value::String(format!("{}{kind}::{value}", primus::PREFIX)))
}

/// What a client that numbers its requests needs from a server frame to answer pings and
/// match answers to requests, read by [`glance`] without building the frame's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glance<'a> {
    /// `"primus::ping::<value>"`: answer with
    /// [`request::encode_pong`](super::request::encode_pong)`(value)`. [`decode`] gives
    /// [`ServerFrame::Ping`] with the same value.
    Ping(&'a str),
    /// A JSON object (a response, a chat message, an alert, the welcome …).
    Object {
        /// The top-level `messageId` when it is a positive integer ([`MessageId::Number`]
        /// for [`decode`]): the id of the numbered request a response answers. `None` for
        /// any other value, or none.
        message_id: Option<u64>,
        /// The top-level `error` is truthy: the answer is a failure
        /// ([`response_error`](crate::client::response_error) would say so).
        error: bool,
    },
    /// Anything else: other Primus tokens and JSON values, a string written with escapes
    /// (no server writes a ping so), text that is not JSON. [`decode`] reads these.
    Other,
}

/// Reads what [`Glance`] tells about a server → client text message: one pass of the same
/// JSON parser as [`decode`], keeping two top-level members and building no value (no
/// allocation unless a member name is written with escapes). For load generators and
/// other clients that only need to answer pings and match numbered answers; the
/// [`Client`](crate::client::Client) machine decodes every frame.
pub fn glance(text: &str) -> Glance<'_> {
    let mut de = serde_json::Deserializer::from_str(text);
    match GlanceSeed.deserialize(&mut de) {
        Ok(g) if de.end().is_ok() => g,
        _ => Glance::Other,
    }
}

/// The top-level value of [`glance`].
struct GlanceSeed;

impl<'de> DeserializeSeed<'de> for GlanceSeed {
    type Value = Glance<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GlanceSeed {
    type Value = Glance<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(match primus::parse(s) {
            Some(Token::Ping(value)) => Glance::Ping(value),
            _ => Glance::Other,
        })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Glance::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Glance::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Glance::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Glance::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Glance::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Glance::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Glance::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // A repeated key: the last one counts, as in the decoded map.
        let (mut message_id, mut error) = (None, false);
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::MessageId => message_id = map.next_value_seed(IdSeed)?,
                Key::Error => error = map.next_value_seed(TruthySeed)?,
                Key::Other => {
                    map.next_value::<Valid>()?;
                }
            }
        }
        Ok(Glance::Object { message_id, error })
    }
}

/// A value [`glance`] skips, checked as a `serde_json::Value` parse checks it (serde's
/// `IgnoredAny` lets through numbers out of `f64` range, such as `5e357305`, which
/// [`decode`] refuses).
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValidVisitor)
    }
}

struct ValidVisitor;

impl<'de> Visitor<'de> for ValidVisitor {
    type Value = Valid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        while map.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(Valid)
    }
}

/// The member names [`glance`] keeps.
enum Key {
    MessageId,
    Error,
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "messageId" => Key::MessageId,
            "error" => Key::Error,
            _ => Key::Other,
        })
    }
}

/// A `messageId` value: `Some` only for what [`MessageId::from_json`] makes a
/// [`MessageId::Number`] (a non-zero integer that fits a `u64`).
struct IdSeed;

impl<'de> DeserializeSeed<'de> for IdSeed {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IdSeed {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok((n != 0).then_some(n))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(None)
    }
}

/// JavaScript truthiness of a value, as [`js::truthy`] judges the decoded one.
struct TruthySeed;

impl<'de> DeserializeSeed<'de> for TruthySeed {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TruthySeed {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<bool, E> {
        Ok(b)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<bool, E> {
        Ok(n != 0)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<bool, E> {
        Ok(n != 0)
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<bool, E> {
        Ok(f != 0.0 && !f.is_nan())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
        Ok(!s.is_empty())
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn action_error_writes_what_encode_action_response_returns() {
        for id in [
            MessageId::Number(7),
            MessageId::from("a\"b\u{2028}"),
            MessageId::from_json(&json!({"x": [1.5, "y"]})).unwrap(),
        ] {
            for message in ["you have too many pending requests", "q\"\n\u{1}é"] {
                let mut out = String::from("kept");
                write_action_error(&mut out, message, &id);
                let want = encode_action_response(&Map::new(), Some(message), &id);
                assert_eq!(out, format!("kept{want}"));
            }
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn live_frames_encode_byte_exact() {
        assert_eq!(
            encode_welcome("Welcome to the actionhero api"),
            r#"{"welcome":"Welcome to the actionhero api","context":"api"}"#
        );
        assert_eq!(
            encode_verb_ok(Some(&json!(true)), &"a".into()),
            r#"{"status":"OK","context":"response","data":true,"messageId":"a"}"#
        );
        assert_eq!(
            encode_verb_error(
                "Error: both room and message are required",
                &json!({"message":"hello"}),
                &2.into()
            ),
            r#"{"status":"Error: both room and message are required","error":"Error: both room and message are required","context":"response","data":{"message":"hello"},"messageId":2}"#
        );
        assert_eq!(
            encode_action_response(
                &Map::new(),
                Some("key is a required parameter for this action"),
                &3.into()
            ),
            r#"{"error":"key is a required parameter for this action","context":"response","messageId":3}"#
        );
        assert_eq!(
            encode_file_not_found(&2.into()),
            r#"{"error":"that file is not found","content":null,"mime":"text/html","length":22,"context":"response","messageId":2}"#
        );
    }

    #[test]
    fn decoded_numbers_re_encode_byte_exact() {
        // Needs serde_json's float_roundtrip: its default parser read these 1 ulp off.
        for text in [
            r#"{"x":-9.681626866183836e-29,"context":"response","messageId":1}"#,
            r#"{"x":[123456789012345680000,0.2695726102685021],"context":"user"}"#,
        ] {
            assert_eq!(encode(&decode(text).unwrap()), text);
        }
    }

    #[test]
    fn file_length_is_a_javascript_number() {
        assert_eq!(
            encode_file("a", None, (1 << 53) + 1, "d", &1.into()),
            r#"{"content":"a","mime":null,"length":9007199254740992,"lastModified":"d","context":"response","messageId":1}"#
        );
    }

    #[test]
    fn envelope_keeps_existing_keys_in_place() {
        let m = obj(json!({"context":"mine","a":1}));
        assert_eq!(
            encode_message(&m, Some(&1.into())),
            r#"{"context":"mine","a":1}"#
        );
        let m = obj(json!({"messageId":0,"a":1}));
        assert_eq!(
            encode_message(&m, Some(&9.into())),
            r#"{"messageId":9,"a":1,"context":"response"}"#
        );
        // A JavaScript object enumerates array-index keys first, so JSON.stringify
        // writes them first wherever they were in the request it came from.
        let m = obj(json!({"b":1,"7":2}));
        assert_eq!(
            encode_message(&m, Some(&1.into())),
            r#"{"7":2,"b":1,"context":"response","messageId":1}"#
        );
        assert_eq!(
            encode_verb_error("Error: x", &json!({"message":"m","1":"y"}), &1.into()),
            r#"{"status":"Error: x","error":"Error: x","context":"response","data":{"1":"y","message":"m"},"messageId":1}"#
        );
        let m = obj(json!({"hello":"there"}));
        assert_eq!(
            encode_message(&m, Some(&"x".into())),
            r#"{"hello":"there","context":"response","messageId":"x"}"#
        );
    }

    #[test]
    fn client_routes_by_context() {
        assert_eq!(
            decode(r#""primus::ping::1795610363950""#).unwrap(),
            ServerFrame::Ping("1795610363950".into())
        );
        assert_eq!(
            decode(r#"{"welcome":"hi","context":"api"}"#).unwrap(),
            ServerFrame::Welcome("hi".into())
        );
        let ServerFrame::Response { message_id, .. } =
            decode(r#"{"status":"OK","context":"response","messageId":7}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(message_id, Some(MessageId::Number(7)));
        assert!(matches!(
            decode(r#"{"context":"user","message":"m"}"#).unwrap(),
            ServerFrame::Say(_)
        ));
        assert!(matches!(decode("5").unwrap(), ServerFrame::Other(_)));
        // Found while writing the fuzz invariant: `[]` was Welcome(""), which encodes
        // as `{"welcome":""…}` and decodes as Api (fuzz/artifacts-regressions).
        for text in [
            r#"{"welcome":[],"context":"api"}"#,
            r#"{"welcome":5,"context":"api"}"#,
            r#"{"welcome":"","context":"api"}"#,
        ] {
            let frame = decode(text).unwrap();
            assert!(matches!(frame, ServerFrame::Api(_)), "{text}");
            assert_eq!(encode(&frame), text);
        }
    }

    #[test]
    fn glance_reads_pings_ids_and_errors_without_decoding() {
        let object = |message_id, error| Glance::Object { message_id, error };
        for (text, want) in [
            (
                "\"primus::ping::1795610363950\"",
                Glance::Ping("1795610363950"),
            ),
            (" \"primus::ping::12\"\n", Glance::Ping("12")),
            // Written with an escape: left to `decode`.
            ("\"primus::ping::1\\u0032\"", Glance::Other),
            ("\"primus::pong::12\"", Glance::Other),
            ("\"primus::server::close\"", Glance::Other),
            (
                r#"{"randomNumber":0.3,"context":"response","messageId":17}"#,
                object(Some(17), false),
            ),
            (
                r#"{"status":"OK","context":"response","data":{"messageId":9,"error":"x"},"messageId":4}"#,
                object(Some(4), false),
            ),
            (
                r#"{"error":"you have too many pending requests","context":"response","messageId":4}"#,
                object(Some(4), true),
            ),
            // The last of repeated members counts, as in the decoded map.
            (
                r#"{"messageId":5,"error":"x","error":"","messageId":6}"#,
                object(Some(6), false),
            ),
            (
                r#"{"message\u0049d":7,"\u0065rror":[]}"#,
                object(Some(7), true),
            ),
            (r#"{"messageId":"7","error":0.0}"#, object(None, false)),
            // A number out of f64 range anywhere is not JSON to `decode`: not to
            // `glance` either (found by `glance_agrees_with_decode`).
            (r#"{"a":{"":5e357305},"messageId":3}"#, Glance::Other),
            (r#"{"a":[1e999]}"#, Glance::Other),
            (r#"{"messageId":0,"error":-1}"#, object(None, true)),
            (r#"{"messageId":1.5,"error":{}}"#, object(None, true)),
            (r#"{"messageId":-3,"error":null}"#, object(None, false)),
            (
                r#"{"messageId":18446744073709551615,"error":false}"#,
                object(Some(u64::MAX), false),
            ),
            (r#"{"messageId":18446744073709551616}"#, object(None, false)),
            (r#"{"welcome":"hi","context":"api"}"#, object(None, false)),
            ("[1,{\"messageId\":2}]", Glance::Other),
            ("12", Glance::Other),
            ("null", Glance::Other),
            // Not JSON.
            (r#"{"messageId":3"#, Glance::Other),
            (r#"{"messageId":3} x"#, Glance::Other),
            ("\"primus::ping::1", Glance::Other),
            ("", Glance::Other),
        ] {
            assert_eq!(glance(text), want, "{text}");
        }
    }
}
