//! Error types shared by the machines (docs/architecture.md#errors): configuration errors and caller
//! misuse. Peer faults are never `Err`: they become outputs and events. Also the one
//! error type of the adapters' server commands ([`ServerError`]).

use std::fmt;

/// A configuration value is invalid; returned by constructors, never at runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is out of its allowed range.
    InvalidValue {
        /// The config field.
        field: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidValue { field, reason } => write!(f, "invalid config `{field}`: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The caller used the API wrongly; depends only on the order and values of calls,
/// never on peer data. The machine is unchanged when this is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// `respond` for a request that was already answered or never asked.
    UnknownRequest,
    /// A room name is empty or too long.
    InvalidRoomName,
    /// The machine is closed (after `disconnect()` or shutdown).
    Closed,
    /// The client's offline queue is full and its policy rejects new commands.
    QueueFull,
    /// The client already has `max_pending_requests` requests outstanding.
    TooManyPending,
    /// A caller-chosen `messageId` names a request that is still outstanding.
    DuplicateMessageId,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownRequest => "no pending request with that id",
            Self::InvalidRoomName => "invalid room name",
            Self::Closed => "the machine is closed",
            Self::QueueFull => "the offline queue is full",
            Self::TooManyPending => "too many requests outstanding",
            Self::DuplicateMessageId => "a request with that messageId is outstanding",
        })
    }
}

impl std::error::Error for UsageError {}

/// Why a server command of an adapter (`ServerHandle::broadcast`, `create_room`, …)
/// failed: the same type in every adapter, so switching runtime changes no error
/// handling. (The client side's counterpart is
/// [`RequestError`](crate::client::RequestError).)
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// A room operation failed in the core.
    Room(crate::server::RoomError),
    /// The room name is empty or too long.
    InvalidRoomName,
    /// The server has stopped.
    Stopped,
}

impl ServerError {
    /// `room` as a [`RoomName`](crate::RoomName), or [`ServerError::InvalidRoomName`].
    ///
    /// # Errors
    /// [`ServerError::InvalidRoomName`] for an empty or too long name.
    pub fn room_name(room: &str) -> Result<crate::RoomName, Self> {
        crate::RoomName::new(room).map_err(|_| Self::InvalidRoomName)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Room(e) => write!(f, "{e}"),
            Self::InvalidRoomName => f.write_str("invalid room name"),
            Self::Stopped => f.write_str("the server has stopped"),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<crate::server::RoomError> for ServerError {
    fn from(e: crate::server::RoomError) -> Self {
        Self::Room(e)
    }
}
