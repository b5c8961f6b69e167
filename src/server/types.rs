//! The server's public vocabulary: what it emits ([`Output`], [`Event`]), what the
//! adapter and the application answer with ([`ActionOutcome`], [`FileOutcome`]), and why
//! things end or fail.

use std::fmt;

use serde_json::{Map, Value};

use super::action::ActionKey;
use super::shared::RoomCommand;
use super::web::HttpTransmit;
#[cfg(doc)]
use super::Server;
use crate::frame::{CloseCause, Frame};
use crate::ids::{ConnectionHandle, ConnectionId, Fingerprint, MessageId, RoomName};
use crate::wire;

/// Identifies one action or file request handed to the application; unique per server.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Something the adapter or the application must handle.
#[must_use]
#[derive(Debug)]
pub enum Output {
    /// Write a frame to a connection.
    Transmit(Transmit),
    /// Tell the application something happened.
    Event(Event),
    /// Write this HTTP answer to a web request ([`Server::handle_api`]).
    Http(HttpTransmit),
}

/// A frame for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The connection.
    pub conn: ConnectionHandle,
    /// The frame (a `Frame::Close` means: send it, then drop the socket).
    pub frame: Frame,
}

/// An application-level event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection is open and welcomed.
    Connected {
        /// Its handle.
        conn: ConnectionHandle,
        /// Its protocol-visible id.
        id: ConnectionId,
        /// Its fingerprint.
        fingerprint: Fingerprint,
    },
    /// A valid action request: run it and call [`Server::respond`].
    ActionRequested {
        /// The connection.
        conn: ConnectionHandle,
        /// The ticket to answer with.
        request: RequestId,
        /// The request's messageId (echoed in the response).
        message_id: MessageId,
        /// The action version the core resolved (what [`super::Server::register_action`]
        /// returned for it): run that version's handler.
        key: ActionKey,
        /// The action name.
        action: String,
        /// Scrubbed, defaulted, formatted and validated params (with `action`, `apiVersion`).
        params: Map<String, Value>,
    },
    /// An action request over HTTP (`/api`) whose params passed validation: run it and
    /// call [`Server::respond`]. There is no socket connection behind it.
    WebActionRequested {
        /// The ticket to answer with ([`Server::handle_api`] returned it too).
        request: RequestId,
        /// The web request's messageId (a uuid, as Actionhero makes it).
        message_id: MessageId,
        /// The action version the core resolved: run that version's handler.
        key: ActionKey,
        /// The action name.
        action: String,
        /// Scrubbed, defaulted, formatted and validated params (with `action`, `apiVersion`).
        params: Map<String, Value>,
        /// The web request's id (`<fingerprint>-<uuid>`, as Actionhero names it).
        connection_id: ConnectionId,
        /// The browser fingerprint (from the cookie, or new).
        fingerprint: Fingerprint,
    },
    /// A file request with a safe relative path: read it under the public directory and
    /// call [`Server::complete_file`].
    FileRequested {
        /// The connection.
        conn: ConnectionHandle,
        /// The ticket to answer with.
        request: RequestId,
        /// The request's messageId.
        message_id: MessageId,
        /// Relative path (no `..`, not absolute, not empty).
        file: String,
    },
    /// A connection joined a room.
    RoomJoined {
        /// The connection.
        conn: ConnectionHandle,
        /// The room.
        room: RoomName,
    },
    /// A connection left a room (also on close).
    RoomLeft {
        /// The connection.
        conn: ConnectionHandle,
        /// The room.
        room: RoomName,
    },
    /// The peer sent something the server could not use (reported; see each
    /// [`Violation`] for what was answered).
    ProtocolViolation {
        /// The connection.
        conn: ConnectionHandle,
        /// What was wrong.
        violation: Violation,
    },
    /// The connection is gone; the last output that names it.
    Disconnected {
        /// The connection.
        conn: ConnectionHandle,
        /// Why.
        reason: DisconnectReason,
    },
    /// After [`Server::shutdown`], the last connection has closed.
    ShutdownComplete,
    /// With shared rooms: how a room command that waited for the store or another
    /// core ended ([`Server::create_room`], [`Server::destroy_room`],
    /// [`Server::add_member`], [`Server::remove_member_by_id`]).
    RoomCommandDone {
        /// The command.
        command: RoomCommand,
        /// Its room.
        room: RoomName,
        /// Its outcome ([`RoomError::Timeout`] when no answer came in time).
        result: Result<(), RoomError>,
    },
    /// The transport of shared rooms (Redis, for a cluster) went away (`up: false`) or
    /// came back, as the adapter reported with [`Server::handle_shared_link`]: while it is
    /// away, says reach this core's members only and room requests fail.
    SharedLink {
        /// Whether it is reachable now.
        up: bool,
    },
}

/// An action to run, whether it came over WebSocket or HTTP: what
/// [`Server::action_call`] makes of an [`Event::ActionRequested`] or an
/// [`Event::WebActionRequested`], so an adapter handles both the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCall {
    /// The ticket to answer with ([`Server::respond`]).
    pub request: RequestId,
    /// The action version the core resolved: run that version's handler.
    pub key: ActionKey,
    /// The requesting WebSocket connection; `None` for an action over HTTP.
    pub conn: Option<ConnectionHandle>,
    /// The requester's protocol-visible id (for a web request, `<fingerprint>-<uuid>`).
    pub connection_id: ConnectionId,
    /// The request's messageId (the response carries it).
    pub message_id: MessageId,
    /// The action name.
    pub action: String,
    /// Scrubbed, defaulted, formatted and validated params (with `action`, `apiVersion`).
    pub params: Map<String, Value>,
}

impl ActionCall {
    /// Splits the call into its ticket, its version key and what the handler gets, with
    /// the adapter's `server` handle.
    pub fn into_context<S>(self, server: S) -> (RequestId, ActionKey, ActionContext<S>) {
        let ctx = ActionContext {
            action: self.action,
            params: self.params,
            conn: self.conn,
            connection_id: self.connection_id,
            message_id: self.message_id,
            server,
        };
        (self.request, self.key, ctx)
    }
}

/// What an action handler gets, in every adapter: the request and the adapter's handle
/// for server commands (`S`: broadcast, rooms, send, …).
#[derive(Debug, Clone)]
pub struct ActionContext<S> {
    /// The action name.
    pub action: String,
    /// Scrubbed, defaulted, formatted and validated params (with `action`, `apiVersion`).
    pub params: Map<String, Value>,
    /// The requesting WebSocket connection; `None` for an action over HTTP (`/api`),
    /// which has no socket to push to.
    pub conn: Option<ConnectionHandle>,
    /// Its protocol-visible id (for a web request, `<fingerprint>-<uuid>`).
    pub connection_id: ConnectionId,
    /// The request's messageId (the response carries it automatically).
    pub message_id: MessageId,
    /// The adapter's handle for server commands.
    pub server: S,
}

/// Something a peer sent that the server could not use (the client machine's
/// [`crate::client::Violation`] is its counterpart).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// The text was not JSON (dropped, as Primus does).
    InvalidJson(wire::WireError),
    /// A binary message (answered with Actionhero's verb error).
    Binary {
        /// Its length.
        len: usize,
    },
    /// A message larger than `max_message_len`.
    MessageTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(e) => write!(f, "{e}"),
            Self::Binary { len } => write!(f, "binary message of {len} bytes"),
            Self::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for Violation {}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The socket ended (reported by the adapter).
    Socket(CloseCause),
    /// The client sent `quit` or `exit`.
    Quit,
    /// No `primus::pong::` for a whole heartbeat interval.
    HeartbeatTimeout,
    /// The application closed it.
    Closed(CloseReason),
    /// Too many consecutive undecodable frames.
    TooManyViolations,
    /// A message over `max_message_len`.
    MessageTooLarge,
    /// More queued frames than `max_outbound_queue_per_connection`.
    SlowConsumer,
    /// Server shutdown.
    Shutdown,
}

/// Why the application closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Actionhero's `connection.destroy()`: `primus::server::close`, then close; the
    /// client does not reconnect.
    Destroy,
    /// The adapter could not deliver fast enough (close 1008, the client may reconnect).
    SlowConsumer,
}

/// Why `handle_open` refused a connection: the adapter sends
/// [`OpenRejected::close_frame`] and drops the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenRejected {
    /// `max_connections` reached.
    TooManyConnections,
    /// The server is shutting down.
    ShuttingDown,
}

impl fmt::Display for OpenRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooManyConnections => "too many connections",
            Self::ShuttingDown => "the server is shutting down",
        })
    }
}

impl std::error::Error for OpenRejected {}

impl OpenRejected {
    /// The close frame a refused socket gets: 1013 "try again later" (the client's
    /// reconnect logic retries).
    pub fn close_frame(self) -> Frame {
        Frame::Close {
            code: Some(1013),
            reason: "try again later",
        }
    }
}

/// A room operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomError {
    /// No such room.
    NotFound,
    /// The room exists already.
    AlreadyExists,
    /// The connection is already a member.
    AlreadyMember,
    /// The connection is not a member.
    NotMember,
    /// A limit (`max_rooms`, `max_rooms_per_connection`) was reached.
    LimitReached,
    /// A chat hook refused, with its message.
    Rejected(String),
    /// The connection is gone.
    ConnectionGone,
    /// Shared rooms: the store or the other core did not answer within
    /// `SharedRoomsConfig::request_timeout`.
    Timeout,
    /// Shared rooms: `SharedRoomsConfig::max_pending_requests` requests are waiting.
    Busy,
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("room does not exist"),
            Self::AlreadyExists => f.write_str("room exists"),
            Self::AlreadyMember => f.write_str("connection already in this room"),
            Self::NotMember => f.write_str("connection not in this room"),
            Self::LimitReached => f.write_str("room limit reached"),
            Self::Rejected(m) => f.write_str(m),
            Self::ConnectionGone => f.write_str("connection is gone"),
            Self::Timeout => f.write_str(super::SHARED_TIMEOUT_ERROR),
            Self::Busy => f.write_str(super::SHARED_BUSY_ERROR),
        }
    }
}

impl std::error::Error for RoomError {}

/// The application's answer to an [`Event::ActionRequested`].
#[derive(Clone, Debug, PartialEq)]
pub enum ActionOutcome {
    /// Success: these fields are the response (top level, in this order).
    Ok(Map<String, Value>),
    /// Failure: `error` (a bare message) is added after the fields.
    Err {
        /// The error message.
        message: String,
        /// Fields the action set before failing.
        fields: Map<String, Value>,
    },
    /// Actionhero's `toRender = false`: send nothing.
    NoResponse,
}

impl ActionOutcome {
    /// A failure without fields.
    pub fn error(message: impl Into<String>) -> Self {
        Self::Err {
            message: message.into(),
            fields: Map::new(),
        }
    }

    /// The answer for an action whose handler panicked (or whose task was lost): the
    /// error [`ACTION_FAILED`]. Adapters use this rather than choosing a text.
    pub fn panicked() -> Self {
        Self::error(ACTION_FAILED)
    }
}

/// The error text of an action whose handler panicked.
pub const ACTION_FAILED: &str = "action failed";

/// The application's answer to an [`Event::FileRequested`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// The file was read.
    Found {
        /// The whole file as UTF-8 text.
        content: String,
        /// Its MIME type by extension (`None` → `null`).
        mime: Option<String>,
        /// Its size in bytes.
        length: u64,
        /// Modification time, epoch ms.
        last_modified_ms: u64,
    },
    /// Missing, unreadable, a directory without index, or outside the public directory.
    NotFound,
}

/// What became of a response or push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the connection.
    Queued,
    /// The connection is gone; nothing was sent (a benign race).
    ConnectionGone,
}

/// A read-only view of one connection.
#[derive(Debug)]
pub struct ConnectionView<'a> {
    /// Protocol-visible id.
    pub id: &'a ConnectionId,
    /// Fingerprint.
    pub fingerprint: &'a Fingerprint,
    /// Remote IP.
    pub remote_ip: &'a str,
    /// Remote port.
    pub remote_port: u16,
    /// Connect time, epoch ms.
    pub connected_at_ms: u64,
    /// Rooms, in join order.
    pub rooms: &'a [RoomName],
    /// Action requests received (including refused ones).
    pub total_actions: u64,
    /// Actions running now.
    pub pending_actions: u32,
}

/// Which timer `poll_timeout` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// The global heartbeat tick.
    Heartbeat,
    /// The end of the shutdown grace period.
    ShutdownGrace,
    /// The first deadline of a request waiting for the shared rooms' store or an RPC.
    SharedRequest,
    /// This node's next heartbeat and sweep in the shared rooms' store.
    NodeHeartbeat,
}
