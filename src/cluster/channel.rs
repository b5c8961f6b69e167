//! The messages of the cluster channel (docs/protocol.md#channel): decode with the
//! token check, encode byte for byte as Actionhero builds them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::{write_str, write_value};
use super::{Ignored, DEFAULT_SERVER_TOKEN};
use crate::error::ConfigError;
use crate::ids::RoomName;
use crate::wire::reply;

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How this node reads and writes the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The cluster token (`config.general.serverToken`, default `change-me`): written
    /// into every message, and a message with any other token is ignored.
    pub server_token: String,
    /// The longest channel message decoded, in bytes (default
    /// [`ChannelConfig::DEFAULT_MAX_MESSAGE_LEN`]); a longer one is
    /// [`Ignored::TooLarge`]. Actionhero has no such limit.
    pub max_message_len: usize,
}

impl ChannelConfig {
    /// 16 MiB: room for a chat message carrying the largest say a WebSocket client
    /// may send (`max_message_len`, 10 MiB) with room to spare for the envelope and for
    /// `JSON.stringify` writing numbers longer than the client did (`1e20`).
    pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            server_token: DEFAULT_SERVER_TOKEN.into(),
            max_message_len: Self::DEFAULT_MAX_MESSAGE_LEN,
        }
    }
}

/// One message on the channel, of a type Actionhero 29.3.5 handles.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelMessage {
    /// `chat`: a chat message every node delivers to its own members of the room.
    Chat(ChatMessage),
    /// `do`: a remote call.
    Call(RpcCall),
    /// `doResponse`: the answer to a remote call.
    Response(CallResponse),
}

impl ChannelMessage {
    /// The server id of the node that published it.
    pub fn server_id(&self) -> &str {
        match self {
            Self::Chat(m) => &m.server_id,
            Self::Call(m) => &m.server_id,
            Self::Response(m) => &m.server_id,
        }
    }
}

/// A `chat` message: a say (or a server broadcast) that passed the publishing node's
/// checks and `onSayReceive` hooks. Every node, the publisher included, delivers it to
/// its own members of `room` through its `say` hooks, as
/// [`ChatMessage::say_payload`].
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    /// The publishing node.
    pub server_id: String,
    /// The room (`connection.room`).
    pub room: RoomName,
    /// The sender's connection id (`connection.id`); `"0"` for the server itself.
    pub from: String,
    /// The message: any JSON value (a client's say is always a string).
    pub message: Value,
    /// When the publishing node received it, in milliseconds since the Unix epoch (at
    /// most 2^53 − 1, JavaScript's largest exact integer; a larger one is written as
    /// that).
    pub sent_at: u64,
}

impl ChatMessage {
    /// The say payload delivered to members:
    /// `{"message":…,"room":…,"from":…,"context":"user","sentAt":…}`.
    pub fn say_payload(&self) -> Map<String, Value> {
        reply::say_payload(
            self.message.clone(),
            self.room.as_str(),
            &self.from,
            self.sent_at,
        )
    }
}

/// A `do` message: call `method` on the node owning `connection_id`, or on every node
/// when there is none ([`RpcCall::target_connection`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RpcCall {
    /// The calling node.
    pub server_id: String,
    /// The call's id (a uuid v4 in Actionhero), echoed by the [`CallResponse`].
    pub message_id: String,
    /// A dotted path on the receiving node's `api` object, such as
    /// `api.chatRoom.removeMember`; see [`RpcCall::method`].
    pub method: String,
    /// The connection whose node should run it (`connectionId`); `None` when absent
    /// (or `null`) in the message.
    pub connection_id: Option<String>,
    /// The arguments as sent (a list, except when a caller passed something else);
    /// see [`RpcCall::args_list`].
    pub args: Value,
}

/// What an [`RpcCall`] asks for, for the methods Actionhero itself calls.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Method<'a> {
    /// `api.chatRoom.removeMember(connectionId, room)`: the owner of the connection
    /// takes it out of the room (leave hooks, `HDEL`) and answers `true`. Sent with a
    /// wait by a `roomLeave` for another node's connection, without one when a room
    /// is destroyed.
    RemoveMember {
        /// The connection.
        connection_id: &'a str,
        /// The room.
        room: &'a str,
    },
    /// `api.chatRoom.addMember(connectionId, room)`: sent by Actionhero for a join of
    /// another node's connection. No Actionhero node can serve it (`api.chatRoom` has
    /// no `addMember`), so the caller always gets `RPC Timeout`.
    AddMember {
        /// The connection.
        connection_id: &'a str,
        /// The room.
        room: &'a str,
    },
    /// `api.connections.applyResponder(connectionId, method, args)`: call a method of a
    /// remote connection (`sendMessage`, `sendFile` with `args` as one argument, others
    /// with `args` as the list); the answer is the connection's record.
    ApplyResponder {
        /// The connection.
        connection_id: &'a str,
        /// The connection method.
        method: &'a str,
        /// Its arguments (`null` when absent).
        args: &'a Value,
    },
    /// `api.log(message, …)`: every node logs it and answers with no `response`
    /// (Actionhero sends one when a node joins and when it leaves the cluster).
    Log {
        /// The logged value (`null` when absent).
        message: &'a Value,
    },
    /// Anything else: a method of the receiving project (or one with arguments of
    /// other types than Actionhero's own calls use). A node without it logs
    /// `RPC method … not found` and does not answer.
    Other,
}

static NULL: Value = Value::Null;

impl RpcCall {
    /// A call with the keys Actionhero's `redis.doCluster` writes.
    pub fn new(
        server_id: impl Into<String>,
        message_id: impl Into<String>,
        method: impl Into<String>,
        connection_id: Option<String>,
        args: Vec<Value>,
    ) -> Self {
        Self {
            server_id: server_id.into(),
            message_id: message_id.into(),
            method: method.into(),
            connection_id,
            args: Value::Array(args),
        }
    }

    /// `api.chatRoom.removeMember` for `connection_id`, addressed to its node.
    pub fn remove_member(
        server_id: impl Into<String>,
        message_id: impl Into<String>,
        connection_id: &str,
        room: &str,
    ) -> Self {
        Self::new(
            server_id,
            message_id,
            "api.chatRoom.removeMember",
            Some(connection_id.into()),
            vec![connection_id.into(), room.into()],
        )
    }

    /// `api.log(text)` on every node.
    pub fn log(server_id: impl Into<String>, message_id: impl Into<String>, text: &str) -> Self {
        Self::new(server_id, message_id, "api.log", None, vec![text.into()])
    }

    /// The notice Actionhero sends when a node starts:
    /// `api.log("actionhero member <server id> has joined the cluster")`.
    pub fn joined_cluster(server_id: &str, message_id: impl Into<String>) -> Self {
        let text = format!("actionhero member {server_id} has joined the cluster");
        Self::log(server_id, message_id, &text)
    }

    /// The notice Actionhero sends when a node stops (after unsubscribing, so the node
    /// does not see its own):
    /// `api.log("actionhero member <server id> has left the cluster")`.
    pub fn left_cluster(server_id: &str, message_id: impl Into<String>) -> Self {
        let text = format!("actionhero member {server_id} has left the cluster");
        Self::log(server_id, message_id, &text)
    }

    /// The connection whose node must run the call, or `None` when every node runs it:
    /// Actionhero tests `!message.connectionId`, so an empty id also means every node.
    pub fn target_connection(&self) -> Option<&str> {
        self.connection_id.as_deref().filter(|c| !c.is_empty())
    }

    /// The arguments as Actionhero applies them: `null` is no argument, a list is the
    /// arguments, anything else is the one argument.
    pub fn args_list(&self) -> Cow<'_, [Value]> {
        match &self.args {
            Value::Null => Cow::Borrowed(&[]),
            Value::Array(items) => Cow::Borrowed(items),
            other => Cow::Owned(vec![other.clone()]),
        }
    }

    /// What the call asks for, for the methods Actionhero itself calls.
    pub fn method(&self) -> Method<'_> {
        let arg = |i: usize| match &self.args {
            Value::Null => None,
            Value::Array(items) => items.get(i),
            other => (i == 0).then_some(other),
        };
        let text = |i: usize| arg(i).and_then(Value::as_str);
        let pair = || Some((text(0)?, text(1)?));
        match self.method.as_str() {
            "api.chatRoom.removeMember" => match pair() {
                Some((connection_id, room)) => Method::RemoveMember {
                    connection_id,
                    room,
                },
                None => Method::Other,
            },
            "api.chatRoom.addMember" => match pair() {
                Some((connection_id, room)) => Method::AddMember {
                    connection_id,
                    room,
                },
                None => Method::Other,
            },
            "api.connections.applyResponder" => match (text(0), text(1)) {
                (Some(connection_id), Some(method)) => Method::ApplyResponder {
                    connection_id,
                    method,
                    args: arg(2).unwrap_or(&NULL),
                },
                _ => Method::Other,
            },
            "api.log" => Method::Log {
                message: arg(0).unwrap_or(&NULL),
            },
            _ => Method::Other,
        }
    }
}

/// A `doResponse` message: the answer of the node that ran a call.
#[derive(Clone, Debug, PartialEq)]
pub struct CallResponse {
    /// The answering node.
    pub server_id: String,
    /// The call's `message_id`.
    pub message_id: String,
    /// What the method returned; `None` when it returned nothing (the key is then
    /// absent, as `JSON.stringify` leaves out `undefined`).
    pub response: Option<Value>,
}

impl CallResponse {
    /// The answer to `call` from the node `server_id`.
    pub fn to(call: &RpcCall, server_id: impl Into<String>, response: Option<Value>) -> Self {
        Self {
            server_id: server_id.into(),
            message_id: call.message_id.clone(),
            response,
        }
    }
}

/// Decodes and encodes channel messages for one node.
#[derive(Clone, Debug)]
pub struct ChannelCodec {
    config: ChannelConfig,
}

impl ChannelCodec {
    /// A codec for `config`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] when `max_message_len` is 0.
    pub fn new(config: ChannelConfig) -> Result<Self, ConfigError> {
        if config.max_message_len == 0 {
            return Err(ConfigError::InvalidValue {
                field: "max_message_len",
                reason: "must be at least 1",
            });
        }
        Ok(Self { config })
    }

    /// The config.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// Decodes one message as received on the channel (the raw payload; bytes that
    /// are not UTF-8 are read as U+FFFD, as Node's redis client does).
    ///
    /// Key order does not matter and unknown keys are skipped, as in Actionhero; of a
    /// repeated key the last one counts, as with `JSON.parse`.
    ///
    /// # Errors
    /// [`Ignored`] says why Actionhero would not act on it (or, for
    /// [`Ignored::TooLarge`] and [`Ignored::Malformed`], why this node does not).
    pub fn decode(&self, payload: &[u8]) -> Result<ChannelMessage, Ignored> {
        let mut map = parse_object(payload, self.config.max_message_len)?;
        match map.get("serverToken") {
            Some(Value::String(t)) if *t == self.config.server_token => {}
            _ => return Err(Ignored::ForeignToken),
        }
        let kind: &'static str = match map.get("messageType").and_then(Value::as_str) {
            Some("chat") => "chat",
            Some("do") => "do",
            Some("doResponse") => "doResponse",
            _ => return Err(Ignored::UnknownType),
        };
        let bad = |field: &'static str| Ignored::Malformed {
            message_type: kind,
            field,
        };
        let string = |map: &mut Map<String, Value>, field: &'static str| match map.remove(field) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(bad(field)),
        };
        let server_id = string(&mut map, "serverId")?;
        match kind {
            "chat" => {
                let message = map.remove("message").ok_or(bad("message"))?;
                let sent_at = map.get("sentAt").and_then(timestamp).ok_or(bad("sentAt"))?;
                let Some(Value::Object(mut connection)) = map.remove("connection") else {
                    return Err(bad("connection"));
                };
                let from = string(&mut connection, "id").map_err(|_| bad("connection.id"))?;
                let room = match connection.get("room") {
                    Some(Value::String(r)) => RoomName::new(r).ok(),
                    _ => None,
                }
                .ok_or(bad("connection.room"))?;
                Ok(ChannelMessage::Chat(ChatMessage {
                    server_id,
                    room,
                    from,
                    message,
                    sent_at,
                }))
            }
            "do" => {
                let message_id = string(&mut map, "messageId")?;
                let method = string(&mut map, "method")?;
                let connection_id = match map.remove("connectionId") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(c)) => Some(c),
                    Some(_) => return Err(bad("connectionId")),
                };
                let args = map.remove("args").ok_or(bad("args"))?;
                Ok(ChannelMessage::Call(RpcCall {
                    server_id,
                    message_id,
                    method,
                    connection_id,
                    args,
                }))
            }
            _ => {
                let message_id = string(&mut map, "messageId")?;
                Ok(ChannelMessage::Response(CallResponse {
                    server_id,
                    message_id,
                    response: map.remove("response"),
                }))
            }
        }
    }

    /// Encodes a message as Actionhero publishes it.
    pub fn encode(&self, message: &ChannelMessage) -> String {
        match message {
            ChannelMessage::Chat(m) => self.encode_chat(m),
            ChannelMessage::Call(m) => self.encode_call(m),
            ChannelMessage::Response(m) => self.encode_response(m),
        }
    }

    /// `{"messageType":"chat","serverToken":…,"serverId":…,"message":…,"sentAt":…,"connection":{"id":…,"room":…}}`
    /// (`initializers/chatRoom.ts`, `broadcast`).
    pub fn encode_chat(&self, m: &ChatMessage) -> String {
        let mut out = self.start("chat", m.room.as_str().len() + 128);
        out.push_str(",\"serverToken\":");
        write_str(&mut out, &self.config.server_token);
        out.push_str(",\"serverId\":");
        write_str(&mut out, &m.server_id);
        out.push_str(",\"message\":");
        write_value(&mut out, &m.message);
        out.push_str(",\"sentAt\":");
        out.push_str(itoa::Buffer::new().format(m.sent_at.min(MAX_SAFE_INTEGER)));
        out.push_str(",\"connection\":{\"id\":");
        write_str(&mut out, &m.from);
        out.push_str(",\"room\":");
        write_str(&mut out, m.room.as_str());
        out.push_str("}}");
        out
    }

    /// `{"messageType":"do","serverId":…,"serverToken":…,"messageId":…,"method":…[,"connectionId":…],"args":…}`
    /// (`modules/redis.ts`, `doCluster`).
    pub fn encode_call(&self, m: &RpcCall) -> String {
        let mut out = self.start("do", m.method.len() + 160);
        out.push_str(",\"serverId\":");
        write_str(&mut out, &m.server_id);
        out.push_str(",\"serverToken\":");
        write_str(&mut out, &self.config.server_token);
        out.push_str(",\"messageId\":");
        write_str(&mut out, &m.message_id);
        out.push_str(",\"method\":");
        write_str(&mut out, &m.method);
        if let Some(c) = &m.connection_id {
            out.push_str(",\"connectionId\":");
            write_str(&mut out, c);
        }
        out.push_str(",\"args\":");
        write_value(&mut out, &m.args);
        out.push('}');
        out
    }

    /// `{"messageType":"doResponse","serverId":…,"serverToken":…,"messageId":…[,"response":…]}`
    /// (`modules/redis.ts`, `respondCluster`).
    pub fn encode_response(&self, m: &CallResponse) -> String {
        let mut out = self.start("doResponse", 128);
        out.push_str(",\"serverId\":");
        write_str(&mut out, &m.server_id);
        out.push_str(",\"serverToken\":");
        write_str(&mut out, &self.config.server_token);
        out.push_str(",\"messageId\":");
        write_str(&mut out, &m.message_id);
        if let Some(r) = &m.response {
            out.push_str(",\"response\":");
            write_value(&mut out, r);
        }
        out.push('}');
        out
    }

    fn start(&self, message_type: &str, extra: usize) -> String {
        let mut out = String::with_capacity(extra + self.config.server_token.len() + 32);
        out.push_str("{\"messageType\":\"");
        out.push_str(message_type);
        out.push('"');
        out
    }
}

/// Parses `payload` (at most `max_len` bytes, lossy UTF-8) as a JSON object.
pub(super) fn parse_object(payload: &[u8], max_len: usize) -> Result<Map<String, Value>, Ignored> {
    if payload.len() > max_len {
        return Err(Ignored::TooLarge {
            len: payload.len(),
            max: max_len,
        });
    }
    let text = String::from_utf8_lossy(payload);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Ignored::NotAnObject),
        Err(_) => Err(Ignored::NotJson),
    }
}

/// A millisecond timestamp as `new Date().getTime()` gives it: an integer from 0 to
/// 2^53 − 1 (written in any JSON number form).
pub(super) fn timestamp(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return (u <= MAX_SAFE_INTEGER).then_some(u);
    }
    let f = n.as_f64()?;
    // -0.0 is 0; everything else negative, fractional or too large is refused.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (f.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&f)).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codec() -> ChannelCodec {
        ChannelCodec::new(ChannelConfig {
            server_token: "tok".into(),
            max_message_len: 4096,
        })
        .unwrap()
    }

    fn decode(text: &str) -> Result<ChannelMessage, Ignored> {
        codec().decode(text.as_bytes())
    }

    const CHAT: &str = r#"{"messageType":"chat","serverToken":"tok","serverId":"n1","message":"hi","sentAt":1795610251097,"connection":{"id":"c1","room":"defaultRoom"}}"#;

    #[test]
    fn chat_decodes_and_encodes_byte_for_byte() {
        let Ok(ChannelMessage::Chat(chat)) = decode(CHAT) else {
            panic!("not a chat")
        };
        assert_eq!(chat.server_id, "n1");
        assert_eq!(chat.room.as_str(), "defaultRoom");
        assert_eq!(chat.from, "c1");
        assert_eq!(chat.message, json!("hi"));
        assert_eq!(chat.sent_at, 1_795_610_251_097);
        assert_eq!(codec().encode_chat(&chat), CHAT);
        assert_eq!(
            crate::wire::js::to_json_string(&Value::Object(chat.say_payload())),
            r#"{"message":"hi","room":"defaultRoom","from":"c1","context":"user","sentAt":1795610251097}"#
        );
    }

    #[test]
    fn key_order_and_extra_keys_do_not_matter_on_decode() {
        let text = r#"{"connection":{"room":"r","id":"0","x":1},"sentAt":5e0,"message":{"b":1,"7":2},"serverId":"n","extra":true,"messageType":"chat","serverToken":"tok"}"#;
        let m = decode(text).unwrap();
        assert_eq!(
            codec().encode(&m),
            r#"{"messageType":"chat","serverToken":"tok","serverId":"n","message":{"7":2,"b":1},"sentAt":5,"connection":{"id":"0","room":"r"}}"#
        );
    }

    #[test]
    fn calls_and_responses_encode_as_do_cluster_does() {
        let c = codec();
        let call = RpcCall::remove_member("n1", "m-1", "c1", "otherRoom");
        let text = c.encode_call(&call);
        assert_eq!(
            text,
            r#"{"messageType":"do","serverId":"n1","serverToken":"tok","messageId":"m-1","method":"api.chatRoom.removeMember","connectionId":"c1","args":["c1","otherRoom"]}"#
        );
        assert_eq!(
            c.decode(text.as_bytes()),
            Ok(ChannelMessage::Call(call.clone()))
        );
        assert_eq!(
            call.method(),
            Method::RemoveMember {
                connection_id: "c1",
                room: "otherRoom"
            }
        );
        assert_eq!(call.target_connection(), Some("c1"));

        let joined = RpcCall::joined_cluster("n1", "m-2");
        assert_eq!(
            c.encode_call(&joined),
            r#"{"messageType":"do","serverId":"n1","serverToken":"tok","messageId":"m-2","method":"api.log","args":["actionhero member n1 has joined the cluster"]}"#
        );
        assert_eq!(joined.target_connection(), None);
        assert_eq!(
            joined.method(),
            Method::Log {
                message: &json!("actionhero member n1 has joined the cluster")
            }
        );

        let none = CallResponse::to(&joined, "n2", None);
        assert_eq!(
            c.encode_response(&none),
            r#"{"messageType":"doResponse","serverId":"n2","serverToken":"tok","messageId":"m-2"}"#
        );
        let yes = CallResponse::to(&call, "n2", Some(json!(true)));
        let text = c.encode_response(&yes);
        assert_eq!(
            text,
            r#"{"messageType":"doResponse","serverId":"n2","serverToken":"tok","messageId":"m-1","response":true}"#
        );
        assert_eq!(c.decode(text.as_bytes()), Ok(ChannelMessage::Response(yes)));
    }

    #[test]
    fn args_are_normalised_as_actionhero_applies_them() {
        let mut call = RpcCall::new("n", "m", "api.log", None, vec![]);
        for (args, list) in [
            (json!(null), vec![]),
            (json!([1, 2]), vec![json!(1), json!(2)]),
            (json!("one"), vec![json!("one")]),
            (json!({"a":1}), vec![json!({"a":1})]),
        ] {
            call.args = args;
            assert_eq!(call.args_list().into_owned(), list);
        }
        call.args = json!(null);
        assert_eq!(call.method(), Method::Log { message: &NULL });
        call.method = "api.chatRoom.removeMember".into();
        call.args = json!(["c", 5]);
        assert_eq!(call.method(), Method::Other);
        call.method = "api.connections.applyResponder".into();
        call.args = json!(["c", "sendMessage"]);
        assert_eq!(
            call.method(),
            Method::ApplyResponder {
                connection_id: "c",
                method: "sendMessage",
                args: &NULL
            }
        );
        call.method = "api.chatRoom.addMember".into();
        call.args = json!(["c", "r", true]);
        assert_eq!(
            call.method(),
            Method::AddMember {
                connection_id: "c",
                room: "r"
            }
        );
        call.connection_id = Some(String::new());
        assert_eq!(call.target_connection(), None, "!\"\" is true in JS");
    }

    #[test]
    fn connection_id_null_is_absent() {
        let text = r#"{"messageType":"do","serverId":"n","serverToken":"tok","messageId":"m","method":"api.x","connectionId":null,"args":[]}"#;
        let Ok(ChannelMessage::Call(call)) = decode(text) else {
            panic!()
        };
        assert_eq!(call.connection_id, None);
    }

    #[test]
    fn ignored_messages_say_why() {
        let c = codec();
        assert_eq!(
            c.decode(&[b' '; 4097]),
            Err(Ignored::TooLarge {
                len: 4097,
                max: 4096
            })
        );
        assert_eq!(decode(""), Err(Ignored::NotJson));
        assert_eq!(decode("{"), Err(Ignored::NotJson));
        assert_eq!(decode(r#"{"s":"\ud800"}"#), Err(Ignored::NotJson));
        assert_eq!(decode("null"), Err(Ignored::NotAnObject));
        assert_eq!(decode("[1]"), Err(Ignored::NotAnObject));
        assert_eq!(
            decode(&CHAT.replace("tok", "other")),
            Err(Ignored::ForeignToken)
        );
        assert_eq!(
            decode(&CHAT.replace(r#""serverToken":"tok","#, "")),
            Err(Ignored::ForeignToken)
        );
        assert_eq!(
            decode(&CHAT.replace(r#""tok""#, r#"["tok"]"#)),
            Err(Ignored::ForeignToken)
        );
        assert_eq!(
            decode(&CHAT.replace(r#""chat""#, r#""hasOwnProperty""#)),
            Err(Ignored::UnknownType)
        );
        assert_eq!(
            decode(&CHAT.replace(r#""chat""#, r#"["chat"]"#)),
            Err(Ignored::UnknownType)
        );
        assert_eq!(
            decode(r#"{"serverToken":"tok"}"#),
            Err(Ignored::UnknownType)
        );
        let malformed = |from: &str, to: &str, field: &'static str| {
            assert_eq!(
                decode(&CHAT.replace(from, to)),
                Err(Ignored::Malformed {
                    message_type: "chat",
                    field
                }),
                "{to}"
            );
        };
        malformed(r#""n1""#, "1", "serverId");
        malformed(r#""message":"hi","#, "", "message");
        malformed("1795610251097", "-1", "sentAt");
        malformed("1795610251097", "1.5", "sentAt");
        malformed("1795610251097", "9007199254740992", "sentAt");
        malformed("1795610251097", r#""1""#, "sentAt");
        malformed(r#""c1""#, "null", "connection.id");
        malformed(r#""defaultRoom""#, r#""""#, "connection.room");
        malformed(r#"{"id":"c1","room":"defaultRoom"}"#, "[]", "connection");
        assert_eq!(
            decode(
                r#"{"messageType":"do","serverId":"n","serverToken":"tok","messageId":"m","method":"api.x"}"#
            ),
            Err(Ignored::Malformed {
                message_type: "do",
                field: "args"
            })
        );
        assert_eq!(
            decode(
                r#"{"messageType":"doResponse","serverId":"n","serverToken":"tok","messageId":7}"#
            ),
            Err(Ignored::Malformed {
                message_type: "doResponse",
                field: "messageId"
            })
        );
        for e in [
            Ignored::TooLarge { len: 2, max: 1 },
            Ignored::NotJson,
            Ignored::UnknownType,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn invalid_utf8_is_read_as_replacement_characters() {
        let text = CHAT.replace("hi", "h\u{fffd}");
        let mut bytes = CHAT.as_bytes().to_vec();
        let at = CHAT.find("hi").unwrap() + 1;
        bytes[at] = 0xff;
        assert_eq!(decode(&text), codec().decode(&bytes));
    }

    #[test]
    fn zero_max_len_is_refused() {
        assert!(ChannelCodec::new(ChannelConfig {
            max_message_len: 0,
            ..ChannelConfig::default()
        })
        .is_err());
        assert_eq!(
            ChannelCodec::new(ChannelConfig::default())
                .unwrap()
                .config()
                .server_token,
            "change-me"
        );
    }
}
