//! The Actionhero cluster protocol as pure codecs: the messages nodes exchange on the
//! Redis pub/sub channel, the Redis keys chat rooms live in, and the member records
//! stored there (docs/protocol.md#cluster).
//!
//! Bytes in, typed values out, and back, byte for byte as Actionhero 29.3.5 writes
//! them; no connection, no clock, no randomness (message ids and timestamps are given
//! by the caller). `tests/cluster_codec.rs` checks every message a real Actionhero
//! node published (`tests/fixtures/cluster/`) decodes and re-encodes to the same bytes.
//!
//! ```
//! use actionhero_ws::cluster::{ChannelCodec, ChannelConfig, ChannelMessage};
//!
//! let codec = ChannelCodec::new(ChannelConfig::default()).unwrap();
//! let text = r#"{"messageType":"chat","serverToken":"change-me","serverId":"node-1","message":"hi","sentAt":1795610251097,"connection":{"id":"c1","room":"defaultRoom"}}"#;
//! let Ok(ChannelMessage::Chat(chat)) = codec.decode(text.as_bytes()) else { panic!() };
//! assert_eq!((chat.room.as_str(), chat.from.as_str()), ("defaultRoom", "c1"));
//! assert_eq!(codec.encode_chat(&chat), text);
//!
//! // Another cluster's message is ignored, and says why.
//! let foreign = text.replace("change-me", "other");
//! assert_eq!(codec.decode(foreign.as_bytes()).unwrap_err().to_string(), "serverToken is not ours");
//! ```

mod channel;
mod json;
pub mod keys;
pub mod store;

use std::fmt;

pub use channel::{
    CallResponse, ChannelCodec, ChannelConfig, ChannelMessage, ChatMessage, Method, RpcCall,
};
pub use keys::{members_key, MemberRecord, MEMBERS_KEY_PREFIX, ROOMS_KEY};
pub use store::{MemoryStore, RedisStoreOp, Reply, NODES_KEY};

/// Actionhero's default pub/sub channel (`config.general.channel`).
pub const DEFAULT_CHANNEL: &str = "actionhero";

/// Actionhero's default cluster token (`config.general.serverToken`).
pub const DEFAULT_SERVER_TOKEN: &str = "change-me";

/// Actionhero's default wait for an RPC answer before `RPC Timeout`
/// (`config.general.rpcTimeout`), in milliseconds.
pub const DEFAULT_RPC_TIMEOUT_MS: u64 = 5000;

/// Why a channel message (or a stored member record) was ignored. Actionhero ignores
/// the same messages silently; nothing here is an error of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// Longer than [`ChannelConfig::max_message_len`]; not parsed.
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON (as `serde_json` reads it: lone surrogate escapes, numbers beyond the
    /// double range and nesting deeper than 128 are refused too).
    NotJson,
    /// JSON, but not an object.
    NotAnObject,
    /// Its `serverToken` is missing or not ours: another cluster's traffic.
    ForeignToken,
    /// Its `messageType` is missing or not one Actionhero handles (`chat`, `do`,
    /// `doResponse`).
    UnknownType,
    /// A field Actionhero always writes is missing or of another type.
    Malformed {
        /// `chat`, `do`, `doResponse`, or `member` for a member record.
        message_type: &'static str,
        /// The field (`connection.room` for a nested one).
        field: &'static str,
    },
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => write!(f, "{len} bytes, more than {max}"),
            Self::NotJson => f.write_str("not JSON"),
            Self::NotAnObject => f.write_str("not a JSON object"),
            Self::ForeignToken => f.write_str("serverToken is not ours"),
            Self::UnknownType => f.write_str("unknown messageType"),
            Self::Malformed {
                message_type,
                field,
            } => write!(f, "{message_type} message without a valid `{field}`"),
        }
    }
}

impl std::error::Error for Ignored {}
