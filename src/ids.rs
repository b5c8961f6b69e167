//! Identifier newtypes shared by the server and the client machines.

use std::fmt;
use std::sync::Arc;

/// A small `Copy` key for one live connection inside one [`Server`](crate::server::Server).
///
/// It is a slab slot plus a generation counter, so a handle kept after its connection
/// closed never reaches the connection that later reuses the slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnectionHandle {
    /// Builds a handle from its raw parts (slot index and generation).
    ///
    /// Only useful for adapters that need a stable key; a forged handle that does not
    /// name a live connection is ignored by every server input.
    pub const fn from_raw(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    /// The tag of the core that gave the handle out (`Server::set_handle_tag`; 0 unless
    /// the adapter runs several cores).
    pub const fn tag(&self) -> u8 {
        (self.generation >> 24) as u8
    }

    /// The slab slot of this handle.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation of this handle's slot.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a string.
            pub fn new(s: impl Into<Arc<str>>) -> Self {
                Self(s.into())
            }

            /// The string value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.into())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s.into())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// The protocol-visible connection id (detailsView `id`, say `from`): a uuid v4 string.
    ConnectionId
);
string_id!(
    /// A session fingerprint: the `?sessionID=` query value, or the connection id when absent.
    Fingerprint
);

/// A validated room name: non-empty and at most [`RoomName::MAX_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// The longest room name accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Validates and wraps a room name.
    ///
    /// # Errors
    /// [`InvalidRoomName`] when `name` is empty or longer than [`RoomName::MAX_LEN`].
    pub fn new(name: &str) -> Result<Self, InvalidRoomName> {
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return Err(InvalidRoomName { len: name.len() });
        }
        Ok(Self(name.into()))
    }

    /// The room name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RoomName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RoomName {
    type Error = InvalidRoomName;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// A room name was empty or too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidRoomName {
    /// Length of the rejected name in bytes.
    pub len: usize,
}

impl fmt::Display for InvalidRoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid room name ({} bytes; must be 1..={})",
            self.len,
            RoomName::MAX_LEN
        )
    }
}

impl std::error::Error for InvalidRoomName {}

/// A request id, echoed back with the JSON type the client used.
///
/// Actionhero keeps the JSON type of `messageId` (number, string, even an object), so
/// anything that is not a non-negative integer or a string is kept as its JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageId {
    /// A non-negative integer id (what ActionheroWebsocketClient sends).
    Number(u64),
    /// A string id.
    Text(Arc<str>),
    /// Any other JSON value (negative or fractional number, object, array, `true`), as
    /// compact JSON text.
    Json(Arc<str>),
}

impl MessageId {
    /// Builds an id from a decoded JSON value; `None` for falsy values (`null`, `false`,
    /// `0`, `""`), which Actionhero replaces with a uuid.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        use serde_json::Value;
        match value {
            Value::Null | Value::Bool(false) => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Self::Text(s.as_str().into())),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    return (u != 0).then_some(Self::Number(u));
                }
                let f = n.as_f64().unwrap_or(0.0);
                if f == 0.0 || f.is_nan() {
                    return None;
                }
                Some(Self::Json(crate::wire::js::number_to_string(n).into()))
            }
            Value::Bool(true) | Value::Array(_) | Value::Object(_) => {
                // Written as the reference echoes it (JavaScript key order and escapes).
                Some(Self::Json(crate::wire::js::to_json_string(value).into()))
            }
        }
    }

    /// The id as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Number(n) => serde_json::Value::from(*n),
            Self::Text(s) => serde_json::Value::String(s.to_string()),
            Self::Json(raw) => serde_json::from_str(raw).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Appends the id's JSON encoding to `out`.
    pub fn write_json(&self, out: &mut String) {
        match self {
            // Beyond 2^53 JavaScript echoes the nearest double, not the digits sent.
            Self::Number(n) => crate::wire::js::write_number(out, &(*n).into()),
            Self::Text(s) => crate::wire::js::write_json_str(out, s),
            Self::Json(raw) => out.push_str(raw),
        }
    }

    /// The key ActionheroWebsocketClient files this id under: JavaScript object keys are
    /// strings, so `5` and `"5"` are the same request.
    pub fn callback_key(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(s) => s.to_string(),
            Self::Json(raw) => raw.to_string(),
        }
    }
}

impl From<u64> for MessageId {
    fn from(n: u64) -> Self {
        Self::Number(n)
    }
}

impl From<&str> for MessageId {
    fn from(s: &str) -> Self {
        Self::Text(s.into())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
            Self::Json(raw) => f.write_str(raw),
        }
    }
}

/// Identifies one client connect attempt; completions for an older attempt are ignored.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(pub u64);

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt-{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_id_keeps_json_type_and_drops_falsy() {
        assert_eq!(MessageId::from_json(&json!(7)), Some(MessageId::Number(7)));
        assert_eq!(
            MessageId::from_json(&json!("abc")),
            Some(MessageId::from("abc"))
        );
        for falsy in [json!(0), json!(""), json!(false), json!(null), json!(0.0)] {
            assert_eq!(MessageId::from_json(&falsy), None, "{falsy}");
        }
        let obj = MessageId::from_json(&json!({"a":1})).unwrap();
        let mut s = String::new();
        obj.write_json(&mut s);
        assert_eq!(s, r#"{"a":1}"#);
        let neg = MessageId::from_json(&json!(-3)).unwrap();
        assert_eq!(neg.to_string(), "-3");
        let obj = MessageId::from_json(&json!({"b":1,"1":"\u{2028}"})).unwrap();
        assert_eq!(obj.to_string(), r#"{"1":"\u2028","b":1}"#);
        // JavaScript holds the id as a double and echoes the nearest one.
        let mut s = String::new();
        MessageId::Number(9_007_199_254_740_993).write_json(&mut s);
        assert_eq!(s, "9007199254740992");
    }

    #[test]
    fn room_names_are_validated() {
        assert!(RoomName::new("").is_err());
        assert!(RoomName::new(&"x".repeat(RoomName::MAX_LEN + 1)).is_err());
        assert_eq!(
            RoomName::new("defaultRoom").unwrap().as_str(),
            "defaultRoom"
        );
    }
}
