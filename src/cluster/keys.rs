//! The Redis keys Actionhero keeps its chat rooms in, and the member records it stores
//! (docs/protocol.md#redis-keys).
//!
//! The names are fixed in Actionhero 29.3.5 (`initializers/chatRoom.ts`): they do not
//! follow the channel name or any other setting.

use serde_json::Value;

use super::json;
use super::Ignored;

/// The set of existing room names (`SADD` on create, `SISMEMBER`, `SREM` on destroy).
pub const ROOMS_KEY: &str = "actionhero:chatRoom:rooms";

/// The prefix of a room's members hash; see [`members_key`].
pub const MEMBERS_KEY_PREFIX: &str = "actionhero:chatRoom:members:";

/// The hash of a room's members: field = connection id, value = a [`MemberRecord`]
/// as JSON (`HSET` on join, `HDEL` on leave, `HGETALL` for `roomView`, `DEL` on
/// destroy). The room name is appended as it is, without escaping.
pub fn members_key(room: &str) -> String {
    let mut key = String::with_capacity(MEMBERS_KEY_PREFIX.len() + room.len());
    key.push_str(MEMBERS_KEY_PREFIX);
    key.push_str(room);
    key
}

/// The room of a members-hash key, when `key` is one.
pub fn room_of_members_key(key: &str) -> Option<&str> {
    key.strip_prefix(MEMBERS_KEY_PREFIX)
}

/// What Actionhero stores about a member (`chatRoom.generateMemberDetails`): the
/// value of its field in the room's members hash, written by the node that owns the
/// connection. `roomView` shows `id` and `joinedAt`; `host` is the owner's server id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// The connection id (the same as the hash field).
    pub id: String,
    /// When it joined, in milliseconds since the Unix epoch.
    pub joined_at: u64,
    /// The server id of the node the connection is on.
    pub host: String,
}

impl MemberRecord {
    /// The JSON Actionhero stores: `{"id":…,"joinedAt":…,"host":…}` in that order.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(40 + self.id.len() + self.host.len());
        out.push_str("{\"id\":");
        json::write_str(&mut out, &self.id);
        out.push_str(",\"joinedAt\":");
        out.push_str(itoa::Buffer::new().format(self.joined_at));
        out.push_str(",\"host\":");
        json::write_str(&mut out, &self.host);
        out.push('}');
        out
    }

    /// Reads a stored record. Keys may come in any order and extra keys are skipped
    /// (a project may override `generateMemberDetails`), but `id` and `host` must be
    /// strings and `joinedAt` a millisecond timestamp.
    ///
    /// # Errors
    /// [`Ignored`] says why the value is not a record this crate can use; values
    /// longer than `max_len` bytes are [`Ignored::TooLarge`] without being parsed.
    pub fn decode(value: &[u8], max_len: usize) -> Result<Self, Ignored> {
        let map = super::channel::parse_object(value, max_len)?;
        let field = |name: &'static str| Ignored::Malformed {
            message_type: "member",
            field: name,
        };
        let string = |name: &'static str| match map.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(field(name)),
        };
        Ok(Self {
            id: string("id")?,
            joined_at: map
                .get("joinedAt")
                .and_then(super::channel::timestamp)
                .ok_or(field("joinedAt"))?,
            host: string("host")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        assert_eq!(ROOMS_KEY, "actionhero:chatRoom:rooms");
        assert_eq!(
            members_key("defaultRoom"),
            "actionhero:chatRoom:members:defaultRoom"
        );
        assert_eq!(
            room_of_members_key("actionhero:chatRoom:members:a:b"),
            Some("a:b")
        );
        assert_eq!(room_of_members_key("actionhero:chatRoom:rooms"), None);
    }

    #[test]
    fn member_record_round_trips() {
        let text = r#"{"id":"e96930fe-8d7b-4fd4-b548-6cbdca1965db","joinedAt":1796690522641,"host":"recorder-node"}"#;
        let m = MemberRecord::decode(text.as_bytes(), 1 << 20).unwrap();
        assert_eq!(m.joined_at, 1_796_690_522_641);
        assert_eq!(m.encode(), text);
        let other_order = r#"{"host":"h","extra":[1],"joinedAt":1e3,"id":"x"}"#;
        let m = MemberRecord::decode(other_order.as_bytes(), 1 << 20).unwrap();
        assert_eq!(m.encode(), r#"{"id":"x","joinedAt":1000,"host":"h"}"#);
    }

    #[test]
    fn bad_member_records_say_why() {
        let bad = |t: &str| MemberRecord::decode(t.as_bytes(), 64).unwrap_err();
        assert_eq!(bad("{"), Ignored::NotJson);
        assert_eq!(bad("[]"), Ignored::NotAnObject);
        assert_eq!(
            bad(r#"{"id":1,"joinedAt":1,"host":"h"}"#),
            Ignored::Malformed {
                message_type: "member",
                field: "id"
            }
        );
        assert_eq!(
            bad(r#"{"id":"x","joinedAt":-1,"host":"h"}"#),
            Ignored::Malformed {
                message_type: "member",
                field: "joinedAt"
            }
        );
        assert!(matches!(
            bad(&format!("\"{}\"", "x".repeat(100))),
            Ignored::TooLarge { len: 102, max: 64 }
        ));
    }
}
