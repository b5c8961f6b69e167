//! Client → server frames: decoded by the server, encoded by the client.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::js::{self, truthy};
use super::primus::{self, Token};
use super::scan::{Field, Scan, TopFields};
use super::WireError;
use crate::ids::MessageId;

/// One decoded client → server frame, as the server must treat it.
///
/// Decoding never fails on valid JSON: a value the server answers with an error (a
/// number, `null`, an unknown verb, an unknown `primus::` token) decodes to a
/// [`Request`] whose [`Verb`] says so.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientFrame {
    /// `primus::pong::<value>`: the client is alive.
    Pong(String),
    /// `primus::id::`: the client asks for its spark id.
    IdRequest,
    /// Anything else: an Actionhero request.
    Request(Request),
}

/// An Actionhero request, taken apart the way the reference does
/// (docs/protocol.md#dispatch-and-message-ids).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The request's `messageId`; `None` when absent or falsy (the server picks a uuid).
    pub message_id: Option<MessageId>,
    /// What the client asked for.
    pub verb: Verb,
    /// The `room` field when it was truthy (it is then not part of `remnant`).
    pub room: Option<Value>,
    /// The request minus `event`, `messageId` and a truthy `room`: echoed as `data` in
    /// verb errors. For a non-object frame, the whole value.
    pub remnant: Value,
}

/// The verb of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `action`: run `params.action`.
    Action,
    /// `file`: send a static file.
    File,
    /// `roomAdd`.
    RoomAdd,
    /// `roomLeave`.
    RoomLeave,
    /// `roomView`.
    RoomView,
    /// `detailsView`.
    DetailsView,
    /// `say`.
    Say,
    /// `documentation`.
    Documentation,
    /// `quit`.
    Quit,
    /// `exit`.
    Exit,
    /// Any other verb, as JavaScript's `String(event)` prints it (`undefined` when the
    /// frame has no `event`, or is not an object).
    Other(String),
}

impl Verb {
    /// The verb's wire name (`"undefined"` for a missing one).
    pub fn name(&self) -> &str {
        match self {
            Self::Action => "action",
            Self::File => "file",
            Self::RoomAdd => "roomAdd",
            Self::RoomLeave => "roomLeave",
            Self::RoomView => "roomView",
            Self::DetailsView => "detailsView",
            Self::Say => "say",
            Self::Documentation => "documentation",
            Self::Quit => "quit",
            Self::Exit => "exit",
            Self::Other(s) => s,
        }
    }

    fn from_event(event: Option<&Value>) -> Self {
        match event {
            None => Self::Other("undefined".into()),
            Some(Value::String(s)) => Self::from_name(s),
            Some(other) => Self::Other(js::js_string(other)),
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "action" => Self::Action,
            "file" => Self::File,
            "roomAdd" => Self::RoomAdd,
            "roomLeave" => Self::RoomLeave,
            "roomView" => Self::RoomView,
            "detailsView" => Self::DetailsView,
            "say" => Self::Say,
            "documentation" => Self::Documentation,
            "quit" => Self::Quit,
            "exit" => Self::Exit,
            other => Self::Other(other.into()),
        }
    }
}

impl Request {
    /// The verb's arguments as the reference builds them: the truthy `room` first, then
    /// every remaining value in JavaScript property order.
    pub fn words(&self) -> Vec<&Value> {
        let mut words = Vec::new();
        if let Some(room) = &self.room {
            words.push(room);
        }
        if let Value::Object(map) = &self.remnant {
            for key in js::js_key_order(map) {
                if let Some(v) = map.get(key) {
                    words.push(v);
                }
            }
        }
        words
    }

    /// For `action`: the params the reference copies from `params` (a string is copied
    /// character by character, like a `for…in` over it; other non-objects copy nothing).
    pub fn action_params(&self) -> Map<String, Value> {
        let Value::Object(map) = &self.remnant else {
            return Map::new();
        };
        match map.get("params") {
            Some(Value::Object(p)) => p.clone(),
            other => copied_params(other),
        }
    }

    /// [`Request::action_params`] without a copy: takes `params` out of the remnant.
    pub fn take_action_params(&mut self) -> Map<String, Value> {
        match &mut self.remnant {
            Value::Object(map) => match map.get_mut("params") {
                Some(Value::Object(p)) => std::mem::take(p),
                Some(_) | None => self.action_params(),
            },
            _ => Map::new(),
        }
    }

    /// For `file`: the `file` field.
    pub fn file(&self) -> Option<&Value> {
        match &self.remnant {
            Value::Object(map) => map.get("file"),
            _ => None,
        }
    }
}

/// What the reference copies from a `params` that is not an object: a string character
/// by character (UTF-16 units, like a `for…in` over it), an array by index, nothing
/// from anything else.
fn copied_params(params: Option<&Value>) -> Map<String, Value> {
    match params {
        Some(Value::String(s)) => s
            .encode_utf16()
            .enumerate()
            .map(|(i, unit)| {
                (
                    i.to_string(),
                    Value::String(String::from_utf16_lossy(&[unit])),
                )
            })
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Some(_) | None => Map::new(),
    }
}

/// A client message as the server machine takes it: an `action` request read by the
/// plain reader comes as its id and params alone (the rest of an action request is
/// never looked at), everything else as [`decode`] gives it.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// An `action` request: its `messageId` ([`Request::message_id`]) and its
    /// [`Request::take_action_params`].
    Action {
        message_id: Option<MessageId>,
        params: Map<String, Value>,
    },
    /// Any other frame.
    Frame(ClientFrame),
}

/// [`decode`] for the server machine (see [`Incoming`]).
///
/// # Errors
/// As [`decode`].
pub(crate) fn decode_incoming(text: &str) -> Result<Incoming, WireError> {
    if text.trim_start().starts_with('{') {
        let mut fields = TopFields::default();
        if Scan::new(text).top_object(&mut fields).is_some() {
            return Ok(incoming_from_fields(&mut fields));
        }
    }
    decode(text).map(Incoming::Frame)
}

/// Decodes one client → server text message.
///
/// # Errors
/// [`WireError::InvalidJson`] when `text` is not JSON (the reference drops such frames).
pub fn decode(text: &str) -> Result<ClientFrame, WireError> {
    // The common case, a JSON object, is taken apart field by field without building the
    // top-level map (same rules: docs/protocol.md#dispatch-and-message-ids). Anything
    // else, and any text the fast path cannot take (invalid JSON included, for its exact
    // error), goes the general way.
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {
            let mut fields = TopFields::default();
            if Scan::new(text).top_object(&mut fields).is_some() {
                return Ok(ClientFrame::Request(request_from_fields(&mut fields)));
            }
            if let Some(req) = decode_object(text) {
                return Ok(ClientFrame::Request(req));
            }
        }
        Some(b'"') => {
            if let Some(s) = Scan::new(text).top_string() {
                return Ok(decode_string(s));
            }
        }
        _ => {}
    }
    let value: Value = serde_json::from_str(text).map_err(|e| WireError::InvalidJson {
        line: e.line(),
        column: e.column(),
    })?;
    Ok(decode_value(value))
}

/// Decodes an already parsed JSON value (see [`decode`]).
pub fn decode_value(value: Value) -> ClientFrame {
    match value {
        Value::String(s) => decode_string(&s),
        value => ClientFrame::Request(request_from_value(value)),
    }
}

/// A frame that is a JSON string: a Primus token, or a request without a verb.
fn decode_string(s: &str) -> ClientFrame {
    match primus::parse(s) {
        Some(Token::Pong(v)) => ClientFrame::Pong(v.to_string()),
        Some(Token::Id(_)) => ClientFrame::IdRequest,
        Some(Token::Ping(_) | Token::ServerClose | Token::Other { .. }) | None => {
            ClientFrame::Request(request_from_value(Value::String(s.to_owned())))
        }
    }
}

/// A binary message: the reference hands the raw bytes over as a Node `Buffer`, whose
/// JSON form `{"type":"Buffer","data":[…]}` is echoed back in the verb error.
pub fn decode_binary(bytes: &[u8]) -> Request {
    let mut map = Map::new();
    map.insert("type".into(), Value::String("Buffer".into()));
    map.insert(
        "data".into(),
        Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
    );
    Request {
        message_id: None,
        verb: Verb::Other("undefined".into()),
        room: None,
        remnant: Value::Object(map),
    }
}

/// A string borrowed from the input when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object's fields in text order, each value still its raw JSON text.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Vec::with_capacity(4);
                while let Some(Str(key)) = map.next_key()? {
                    fields.push((key, map.next_value()?));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// [`request_from_value`] for a JSON object, without building its top-level map: the
/// verb is read in place, `event` and `messageId` never become map entries, and the
/// remnant holds only the other fields. JavaScript's rules for repeated keys hold (the
/// last value wins, at the first key's position). `None` when the text is not a JSON
/// object the parser accepts in one piece.
fn decode_object(text: &str) -> Option<Request> {
    let Fields(fields) = serde_json::from_str(text).ok()?;
    let last = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, raw)| *raw)
    };
    let parse = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).ok();
    let (event_raw, id_raw, room_raw) = (last("event"), last("messageId"), last("room"));
    let verb = match event_raw {
        None => Verb::from_event(None),
        Some(raw) => match serde_json::from_str::<Str<'_>>(raw.get()) {
            Ok(Str(name)) => Verb::from_name(&name),
            Err(_) => Verb::from_event(Some(&parse(raw)?)),
        },
    };
    let message_id = match id_raw {
        Some(raw) => MessageId::from_json(&parse(raw)?),
        None => None,
    };
    // Only verbs other than action/file take a truthy `room` out of the remnant.
    let room = match (&verb, room_raw) {
        (Verb::Action | Verb::File, _) | (_, None) => None,
        (_, Some(raw)) => Some(parse(raw)?).filter(truthy),
    };
    let mut remnant = Map::new();
    for (key, raw) in &fields {
        let taken = match key.as_ref() {
            "event" => Some(event_raw),
            "messageId" => Some(id_raw),
            "room" if room.is_some() => Some(room_raw),
            _ => None,
        };
        match taken {
            None => {
                remnant.insert(key.clone().into_owned(), parse(raw)?);
            }
            // The value read above.
            Some(Some(read)) if std::ptr::eq(read, *raw) => {}
            // An earlier repeat of a taken key: dropped, but it must still be JSON
            // (a number out of range is not).
            Some(_) => {
                parse(raw)?;
            }
        }
    }
    Some(Request {
        message_id,
        verb,
        room,
        remnant: Value::Object(remnant),
    })
}

/// [`decode_object`] for an object the plain reader took (`scan`): the same rules, with
/// every value read once.
fn request_from_fields(fields: &mut TopFields<'_>) -> Request {
    let (verb, message_id) = verb_and_id(fields);
    request_from_parts(fields, verb, message_id)
}

/// [`request_from_fields`] for the server machine: an action request as its id and
/// params only.
fn incoming_from_fields(fields: &mut TopFields<'_>) -> Incoming {
    let (verb, message_id) = verb_and_id(fields);
    if verb != Verb::Action {
        return Incoming::Frame(ClientFrame::Request(request_from_parts(
            fields, verb, message_id,
        )));
    }
    // The remnant would hold the last `params`; nothing else of it is used.
    let params = match fields.iter().rposition(|(k, _)| *k == "params") {
        Some(i) => match fields.take(i) {
            Some(Field::Value(Value::Object(map))) => map,
            field => copied_params(field.map(Field::into_value).as_ref()),
        },
        None => Map::new(),
    };
    Incoming::Action { message_id, params }
}

/// The verb (the last `event`) and the id (the last `messageId`) of an object's fields.
fn verb_and_id(fields: &[(&str, Field<'_>)]) -> (Verb, Option<MessageId>) {
    let last = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, f)| f)
    };
    let verb = match last("event") {
        None => Verb::from_event(None),
        Some(Field::Str(name)) => Verb::from_name(name),
        Some(Field::Value(v)) => Verb::from_event(Some(v)),
    };
    let message_id = match last("messageId") {
        None => None,
        Some(Field::Str(s)) => (!s.is_empty()).then(|| MessageId::Text((*s).into())),
        Some(Field::Value(v)) => MessageId::from_json(v),
    };
    (verb, message_id)
}

/// The request of an object's fields, its verb and id read.
fn request_from_parts(
    fields: &mut TopFields<'_>,
    verb: Verb,
    message_id: Option<MessageId>,
) -> Request {
    let room_at = fields.iter().rposition(|(k, _)| *k == "room");
    // Only verbs other than action/file take a truthy `room` out of the remnant.
    let take_room = !matches!(verb, Verb::Action | Verb::File)
        && match room_at.and_then(|i| fields.get(i)) {
            None => false,
            Some((_, Field::Str(s))) => !s.is_empty(),
            Some((_, Field::Value(v))) => truthy(v),
        };
    let taken = |k: &str| k == "event" || k == "messageId" || (take_room && k == "room");
    let kept = fields.iter().filter(|(k, _)| !taken(k)).count();
    let mut remnant = Map::with_capacity(kept);
    let mut room = None;
    for i in 0..fields.len() {
        let Some(&(key, _)) = fields.get(i) else {
            break;
        };
        if !taken(key) {
            if let Some(field) = fields.take(i) {
                remnant.insert(key.to_owned(), field.into_value());
            }
        } else if take_room && Some(i) == room_at {
            room = fields.take(i).map(Field::into_value);
        }
    }
    Request {
        message_id,
        verb,
        room,
        remnant: Value::Object(remnant),
    }
}

fn request_from_value(value: Value) -> Request {
    let Value::Object(mut map) = value else {
        return Request {
            message_id: None,
            verb: Verb::Other("undefined".into()),
            room: None,
            remnant: value,
        };
    };
    let verb = Verb::from_event(map.shift_remove("event").as_ref());
    let message_id = map
        .shift_remove("messageId")
        .and_then(|v| MessageId::from_json(&v));
    // Only verbs other than action/file take `room` out of the remnant.
    let room = match verb {
        Verb::Action | Verb::File => None,
        _ if map.get("room").is_some_and(truthy) => map.shift_remove("room"),
        _ => None,
    };
    Request {
        message_id,
        verb,
        room,
        remnant: Value::Object(map),
    }
}

/// A client → server request, as the client encodes it (the frames
/// ActionheroWebsocketClient sends, key order included).
#[derive(Clone, Debug, PartialEq)]
pub enum ClientRequest {
    /// `{"event":"action","params":{…,"action":name},"messageId":id}`.
    Action {
        /// Params, with `action` already set.
        params: Map<String, Value>,
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"say","room":…,"message":…,"messageId":id}`.
    Say {
        /// Room.
        room: String,
        /// Message (any JSON value).
        message: Value,
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"file","file":…,"messageId":id}`.
    File {
        /// Path under the public directory.
        file: String,
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"roomAdd","room":…,"messageId":id}`.
    RoomAdd {
        /// Room.
        room: String,
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"roomLeave","room":…,"messageId":id}`.
    RoomLeave {
        /// Room.
        room: String,
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"roomView","room":…,"messageId":id}`.
    RoomView {
        /// Room.
        room: String,
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"detailsView","messageId":id}`.
    DetailsView {
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"documentation","messageId":id}`.
    Documentation {
        /// The request id.
        message_id: MessageId,
    },
    /// `{"event":"quit","messageId":id}`.
    Quit {
        /// The request id.
        message_id: MessageId,
    },
}

impl ClientRequest {
    /// The request's id.
    pub fn message_id(&self) -> &MessageId {
        match self {
            Self::Action { message_id, .. }
            | Self::Say { message_id, .. }
            | Self::File { message_id, .. }
            | Self::RoomAdd { message_id, .. }
            | Self::RoomLeave { message_id, .. }
            | Self::RoomView { message_id, .. }
            | Self::DetailsView { message_id }
            | Self::Documentation { message_id }
            | Self::Quit { message_id } => message_id,
        }
    }
}

impl ClientRequest {
    /// Recognises a decoded request that has exactly the shape ActionheroWebsocketClient
    /// sends (a truthy `messageId`, a known client verb and only that verb's fields), and
    /// returns it as the client-side value; `None` for any other request.
    ///
    /// `encode(&ClientRequest::from_request(&decode(text))?)` gives back `text` when the
    /// text also has the client's key order; tests and fuzzing use this to check that
    /// the two directions agree.
    pub fn from_request(req: &Request) -> Option<Self> {
        let message_id = req.message_id.clone()?;
        let Value::Object(rest) = &req.remnant else {
            return None;
        };
        // `room` is in `req.room` when truthy, else (`""`) still in the remnant.
        let room = match (&req.room, rest.get("room")) {
            (Some(Value::String(r)), None) => Some(r.clone()),
            (None, Some(Value::String(r))) => Some(r.clone()),
            (None, None) => None,
            _ => return None,
        };
        let only = |keys: &[&str]| rest.keys().all(|k| keys.contains(&k.as_str()));
        let room_only = || match (&room, only(&["room"])) {
            (Some(room), true) => Some(room.clone()),
            _ => None,
        };
        let bare = room.is_none() && rest.is_empty();
        Some(match req.verb {
            Verb::Action => match rest.get("params") {
                Some(Value::Object(params))
                    if rest.len() == 1 && params.get("action").is_some_and(Value::is_string) =>
                {
                    Self::Action {
                        params: params.clone(),
                        message_id,
                    }
                }
                _ => return None,
            },
            Verb::File => match rest.get("file") {
                Some(Value::String(file)) if rest.len() == 1 => Self::File {
                    file: file.clone(),
                    message_id,
                },
                _ => return None,
            },
            Verb::Say => match (&room, rest.get("message")) {
                (Some(room), Some(message)) if only(&["room", "message"]) => Self::Say {
                    room: room.clone(),
                    message: message.clone(),
                    message_id,
                },
                _ => return None,
            },
            Verb::RoomAdd => Self::RoomAdd {
                room: room_only()?,
                message_id,
            },
            Verb::RoomLeave => Self::RoomLeave {
                room: room_only()?,
                message_id,
            },
            Verb::RoomView => Self::RoomView {
                room: room_only()?,
                message_id,
            },
            Verb::DetailsView if bare => Self::DetailsView { message_id },
            Verb::Documentation if bare => Self::Documentation { message_id },
            Verb::Quit if bare => Self::Quit { message_id },
            _ => return None,
        })
    }
}

/// Encodes a client request as the frame text the real client sends.
pub fn encode(req: &ClientRequest) -> String {
    let mut out = String::with_capacity(96);
    write(&mut out, req);
    out
}

/// Appends what [`encode`] returns to `out`.
pub fn write(out: &mut String, req: &ClientRequest) {
    write_head(out, req);
    write_tail(out, req.message_id());
}

/// The frame up to its id: `{"event":<verb>,<the verb's fields>,"messageId":`. Every
/// client frame ends with its id, as ActionheroWebsocketClient adds `messageId` last.
fn write_head(out: &mut String, req: &ClientRequest) {
    let (event, field) = match req {
        ClientRequest::Action { params, .. } => {
            out.push_str("{\"event\":\"action\",\"params\":");
            js::write_object(out, params);
            out.push_str(",\"messageId\":");
            return;
        }
        ClientRequest::Say { room, message, .. } => {
            out.push_str("{\"event\":\"say\",\"room\":");
            js::write_json_str(out, room);
            out.push_str(",\"message\":");
            js::write_json(out, message);
            out.push_str(",\"messageId\":");
            return;
        }
        ClientRequest::File { file, .. } => ("file", Some(("file", file))),
        ClientRequest::RoomAdd { room, .. } => ("roomAdd", Some(("room", room))),
        ClientRequest::RoomLeave { room, .. } => ("roomLeave", Some(("room", room))),
        ClientRequest::RoomView { room, .. } => ("roomView", Some(("room", room))),
        ClientRequest::DetailsView { .. } => ("detailsView", None),
        ClientRequest::Documentation { .. } => ("documentation", None),
        ClientRequest::Quit { .. } => ("quit", None),
    };
    out.push_str("{\"event\":");
    js::write_json_str(out, event);
    if let Some((key, value)) = field {
        out.push(',');
        js::write_json_str(out, key);
        out.push(':');
        js::write_json_str(out, value);
    }
    out.push_str(",\"messageId\":");
}

/// The id and the closing brace, after [`write_head`].
fn write_tail(out: &mut String, id: &MessageId) {
    id.write_json(out);
    out.push('}');
}

/// A client request encoded once up to its `messageId`, to write the same request again
/// under new ids without encoding the rest again (a load generator's requests). What it
/// writes is what [`encode`] returns for the request under that id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// `{"event":…,"messageId":`
    head: String,
}

impl Template {
    /// Encodes `req` up to its id; the id it carries is not kept.
    pub fn new(req: &ClientRequest) -> Self {
        let mut head = String::with_capacity(96);
        write_head(&mut head, req);
        Self { head }
    }

    /// Appends the request's frame with `id` as its `messageId`.
    pub fn write(&self, out: &mut String, id: &MessageId) {
        out.push_str(&self.head);
        write_tail(out, id);
    }

    /// The request's frame with `id` as its `messageId`, in one allocation for a numeric
    /// id.
    pub fn encode(&self, id: &MessageId) -> String {
        // A u64 is at most 20 digits (written as a double beyond 2^53: at most 22
        // characters), and the closing brace.
        let mut out = String::with_capacity(self.head.len() + 24);
        self.write(&mut out, id);
        out
    }
}

/// The frame text a client sends to answer `primus::ping::<value>`.
pub fn encode_pong(ping_value: &str) -> String {
    primus::encode_pong(ping_value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dropped_repeat_must_still_be_json() {
        // JSON.parse refuses a number out of range anywhere, also in a key repeated
        // later; so does the general path, so the object fast path must too.
        for text in [
            r#"{"event":1e999,"event":"say","room":"r","message":"m"}"#,
            r#"{"messageId":-1e999,"event":"detailsView","messageId":1}"#,
            r#"{"event":"roomAdd","room":[1e999],"room":"r"}"#,
        ] {
            assert!(decode(text).is_err(), "{text}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        }
        assert!(decode(r#"{"event":"say","event":"roomAdd","room":"r"}"#).is_ok());
    }

    fn req(text: &str) -> Request {
        match decode(text).unwrap() {
            ClientFrame::Request(r) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn decodes_action_with_any_id_type() {
        let r = req(r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#);
        assert_eq!(r.verb, Verb::Action);
        assert_eq!(r.message_id, Some(MessageId::Number(1)));
        assert_eq!(r.action_params()["action"], json!("randomNumber"));
        let r = req(r#"{"event":"action","params":"abc","messageId":{"a":1}}"#);
        assert_eq!(r.action_params().len(), 3);
        assert_eq!(r.message_id, Some(MessageId::Json(r#"{"a":1}"#.into())));
    }

    #[test]
    fn decodes_non_objects_as_undefined_verb() {
        for text in [
            "123",
            "\"hello\"",
            "[1,2]",
            "true",
            "null",
            "{\"noevent\":1}",
            "\"primus::foo\"",
        ] {
            let r = req(text);
            assert_eq!(r.verb, Verb::Other("undefined".into()), "{text}");
            assert_eq!(r.message_id, None);
        }
        assert_eq!(req("null").remnant, Value::Null);
    }

    #[test]
    fn decodes_primus_tokens() {
        assert_eq!(
            decode("\"primus::pong::17\"").unwrap(),
            ClientFrame::Pong("17".into())
        );
        assert_eq!(decode("\"primus::id::\"").unwrap(), ClientFrame::IdRequest);
        assert!(matches!(decode("{bad"), Err(WireError::InvalidJson { .. })));
    }

    #[test]
    fn words_follow_javascript_order() {
        let r = req(r#"{"event":"say","room":"r","message":"m","1":"first?","x":"y"}"#);
        let words: Vec<String> = r.words().into_iter().map(js::js_string).collect();
        assert_eq!(words, vec!["r", "first?", "m", "y"]);
        let r = req(r#"{"event":"say","message":"hello","messageId":2}"#);
        assert_eq!(r.remnant, json!({"message":"hello"}));
        assert_eq!(r.room, None);
    }

    #[test]
    fn encodes_client_frames_like_the_real_client() {
        let mut params = Map::new();
        params.insert("action".into(), json!("randomNumber"));
        let a = ClientRequest::Action {
            params,
            message_id: 1.into(),
        };
        assert_eq!(
            encode(&a),
            r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#
        );
        let s = ClientRequest::Say {
            room: "r".into(),
            message: json!("hi"),
            message_id: 2.into(),
        };
        assert_eq!(
            encode(&s),
            r#"{"event":"say","room":"r","message":"hi","messageId":2}"#
        );
        let d = ClientRequest::DetailsView {
            message_id: 7.into(),
        };
        assert_eq!(encode(&d), r#"{"event":"detailsView","messageId":7}"#);
    }

    #[test]
    fn templates_and_appends_write_what_encode_returns() {
        let mut params = Map::new();
        params.insert("action".into(), json!("randomNumber"));
        params.insert("1".into(), json!("first"));
        let requests = [
            ClientRequest::Action {
                params,
                message_id: 1.into(),
            },
            ClientRequest::Say {
                room: "r\"1".into(),
                message: json!({"a": [1, "\u{2028}"]}),
                message_id: "x".into(),
            },
            ClientRequest::File {
                file: "simple.html".into(),
                message_id: 3.into(),
            },
            ClientRequest::RoomAdd {
                room: "defaultRoom".into(),
                message_id: 4.into(),
            },
            ClientRequest::RoomLeave {
                room: "".into(),
                message_id: 5.into(),
            },
            ClientRequest::RoomView {
                room: "é".into(),
                message_id: 6.into(),
            },
            ClientRequest::DetailsView {
                message_id: 7.into(),
            },
            ClientRequest::Documentation {
                message_id: 8.into(),
            },
            ClientRequest::Quit {
                message_id: 9.into(),
            },
        ];
        for req in requests {
            let template = Template::new(&req);
            let mut out = String::from("kept");
            write(&mut out, &req);
            assert_eq!(out, format!("kept{}", encode(&req)));
            for id in [
                MessageId::Number(u64::MAX),
                MessageId::from("id"),
                42.into(),
            ] {
                let mut again = req.clone();
                set_id(&mut again, id.clone());
                assert_eq!(template.encode(&id), encode(&again), "{again:?}");
                let mut out = String::from("kept");
                template.write(&mut out, &id);
                assert_eq!(out, format!("kept{}", encode(&again)));
            }
        }
        let d = Template::new(&ClientRequest::DetailsView {
            message_id: 1.into(),
        });
        assert_eq!(
            d.encode(&12.into()),
            r#"{"event":"detailsView","messageId":12}"#
        );
    }

    fn set_id(req: &mut ClientRequest, id: MessageId) {
        match req {
            ClientRequest::Action { message_id, .. }
            | ClientRequest::Say { message_id, .. }
            | ClientRequest::File { message_id, .. }
            | ClientRequest::RoomAdd { message_id, .. }
            | ClientRequest::RoomLeave { message_id, .. }
            | ClientRequest::RoomView { message_id, .. }
            | ClientRequest::DetailsView { message_id }
            | ClientRequest::Documentation { message_id }
            | ClientRequest::Quit { message_id } => *message_id = id,
        }
    }

    #[test]
    fn recognises_only_client_shaped_requests() {
        for text in [
            r#"{"event":"action","params":{"action":"randomNumber","apiVersion":1},"messageId":1}"#,
            r#"{"event":"say","room":"defaultRoom","message":{"a":1},"messageId":2}"#,
            r#"{"event":"say","room":"","message":"m","messageId":"x"}"#,
            r#"{"event":"file","file":"simple.html","messageId":1}"#,
            r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#,
            r#"{"event":"roomView","room":"","messageId":1}"#,
            r#"{"event":"quit","messageId":1}"#,
        ] {
            let cr = ClientRequest::from_request(&req(text)).unwrap();
            assert_eq!(encode(&cr), text);
        }
        for text in [
            r#"{"event":"action","params":{"action":"randomNumber"},"messageId":0}"#,
            r#"{"event":"action","messageId":2}"#,
            r#"{"event":"say","room":"defaultRoom","messageId":4}"#,
            r#"{"event":"say","message":"hello","messageId":5}"#,
            r#"{"event":"say","room":"r","message":"m","extra":"x","messageId":4}"#,
            r#"{"event":"roomAdd","messageId":8}"#,
            r#"{"event":"roomAdd","room":["defaultRoom"],"messageId":8}"#,
            r#"{"event":"detailsView","room":"r","messageId":1}"#,
            r#"{"event":"paramAdd","key":"k","value":"v","messageId":1}"#,
            r#"{"event":"exit","messageId":1}"#,
            "123",
        ] {
            assert_eq!(ClientRequest::from_request(&req(text)), None, "{text}");
        }
    }
}
