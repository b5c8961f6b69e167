//! The sans-IO Actionhero WebSocket server.
//!
//! One [`Server`] holds every connection of one endpoint. The adapter feeds it with
//! `handle_*` inputs (a connection opened, a text message arrived, a socket closed, time
//! passed), the application with commands ([`Server::respond`], [`Server::broadcast`],
//! …), and both drain [`Server::poll_output`] and sleep until [`Server::poll_timeout`].
//!
//! ```text
//!            handle_open ──► Open{alive} ──quit/exit/close(Destroy)──► "primus::server::close" + close ─┐
//!                              │  ▲                                                                    │
//!          heartbeat tick ─────┘  └──── "primus::pong::…" (alive = true)                               ├─► Disconnected
//!          (alive=false, ping)  tick while !alive ──► close (no server::close) ─────────────────────────┤
//!                              shutdown ──► Draining (pending actions) ──► close ───────────────────────┤
//!                              handle_closed / too large / too many violations / slow consumer ────────┘
//! ```

mod action;
mod config;
mod hooks;
mod mime;
mod rooms;
mod web;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

pub use action::{
    failed_validation, ActionRegistry, ActionSpec, Formatter, Input, Validator, GLOBAL_SAFE_PARAMS,
};
pub use config::{ServerConfig, DEFAULT_VERBS};
pub use hooks::{ChatHooks, ConnectionInfo};
pub use mime::mime_type;
pub use web::HttpTransmit;

use crate::error::{ConfigError, UsageError};
use crate::frame::{Frame, Text};
use crate::handshake::Handshake;
use crate::ids::{ConnectionHandle, ConnectionId, Fingerprint, MessageId, RoomName};
use crate::time::{self, Clock, Rng};
use crate::wire::{self, js, primus, reply, ClientFrame, Request, Verb};
use action::{process_params, Refusal};
use rooms::RoomRegistry;

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
    /// The peer sent something undecodable; the frame was dropped.
    ProtocolViolation {
        /// The connection.
        conn: ConnectionHandle,
        /// What was wrong.
        error: ProtocolError,
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
}

/// A peer fault on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The text was not JSON (dropped, as Primus does).
    InvalidJson(wire::WireError),
    /// A binary message (answered with Actionhero's verb error).
    BinaryMessage {
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

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(e) => write!(f, "{e}"),
            Self::BinaryMessage { len } => write!(f, "binary message of {len} bytes"),
            Self::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// How the socket ended, as the adapter saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed (with this close code, if any) or the TCP connection ended.
    PeerClosed {
        /// The peer's close code.
        code: Option<u16>,
    },
    /// A socket or protocol error in the transport.
    Transport,
    /// The transport refused an oversize message (close 1009).
    MessageTooLarge,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Why `handle_open` refused a connection (the adapter closes the socket, e.g. with 1013).
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
}

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Open,
    /// Shutdown started; closes once its pending requests are answered.
    Draining,
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    id: ConnectionId,
    fingerprint: Fingerprint,
    spark_id: String,
    remote_ip: String,
    remote_port: u16,
    connected_at: u64,
    rooms: Vec<RoomName>,
    total_actions: u64,
    pending_actions: u32,
    pending_files: u32,
    requests: Vec<RequestId>,
    alive: bool,
    violations: u32,
    last_message_id: Option<MessageId>,
    queued: usize,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    Action,
    File,
}

#[derive(Debug)]
struct Pending {
    conn: ConnectionHandle,
    message_id: MessageId,
    kind: PendingKind,
    /// The connection ended; the answer is discarded.
    orphaned: bool,
}

#[derive(Debug, Clone, Copy)]
struct Shutdown {
    reconnect: bool,
    deadline: Option<Instant>,
    reported: bool,
}

/// The server machine. See the [module docs](self).
pub struct Server {
    config: ServerConfig,
    clock: Clock,
    rng: Rng,
    slots: Vec<Slot>,
    free: Vec<u32>,
    open: usize,
    rooms: RoomRegistry,
    actions: ActionRegistry,
    hooks: Vec<(i32, Box<dyn ChatHooks>)>,
    pending: BTreeMap<RequestId, Pending>,
    web: BTreeMap<RequestId, web::WebPending>,
    next_request: u64,
    out: VecDeque<Output>,
    next_tick: Option<Instant>,
    shutdown: Option<Shutdown>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.open)
            .field("rooms", &self.rooms.len())
            .field("pending", &self.pending.len())
            .field("queued_outputs", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Creates a server. `seed` drives every random value (connection ids, default
    /// messageIds, spark ids); `now`/`unix_now` anchor wall-clock time.
    ///
    /// # Errors
    /// [`ConfigError`] when `config` is invalid.
    pub fn new(
        config: ServerConfig,
        seed: [u8; 32],
        now: Instant,
        unix_now: SystemTime,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let next_tick = config.ping_interval.map(|d| time::add(now, d));
        Ok(Self {
            config,
            clock: Clock::new(now, unix_now),
            rng: Rng::new(seed),
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            rooms: RoomRegistry::default(),
            actions: ActionRegistry::new(),
            hooks: Vec::new(),
            pending: BTreeMap::new(),
            web: BTreeMap::new(),
            next_request: 1,
            out: VecDeque::new(),
            next_tick,
            shutdown: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Registers an action version.
    pub fn register_action(&mut self, spec: ActionSpec) {
        self.actions.register(spec);
    }

    /// The action registry.
    pub fn actions(&self) -> &ActionRegistry {
        &self.actions
    }

    /// Adds chat hooks; hooks run in ascending `priority` (ties in registration order).
    pub fn add_chat_hooks(&mut self, priority: i32, hooks: Box<dyn ChatHooks>) {
        let at = self.hooks.partition_point(|(p, _)| *p <= priority);
        self.hooks.insert(at, (priority, hooks));
    }

    // ---- inputs from the adapter ---------------------------------------------------

    /// Registers a connection whose WebSocket upgrade succeeded, and queues its welcome.
    ///
    /// # Errors
    /// [`OpenRejected`] when `max_connections` is reached or the server is shutting down;
    /// the adapter should close the socket.
    pub fn handle_open(
        &mut self,
        handshake: Handshake,
        now: Instant,
    ) -> Result<ConnectionHandle, OpenRejected> {
        let now = self.clock.advance(now);
        if self.shutdown.is_some() {
            return Err(OpenRejected::ShuttingDown);
        }
        if self.open >= self.config.max_connections {
            return Err(OpenRejected::TooManyConnections);
        }
        let id = ConnectionId::new(self.rng.uuid_v4());
        let fingerprint = match handshake.fingerprint {
            Some(f) => Fingerprint::new(f),
            None => Fingerprint::new(id.as_str()),
        };
        let conn = Conn {
            state: ConnState::Open,
            id: id.clone(),
            fingerprint: fingerprint.clone(),
            spark_id: self.rng.nanoid(),
            remote_ip: handshake.remote_ip,
            remote_port: handshake.remote_port,
            connected_at: self.clock.epoch_ms(now),
            rooms: Vec::new(),
            total_actions: 0,
            pending_actions: 0,
            pending_files: 0,
            requests: Vec::new(),
            alive: true,
            violations: 0,
            last_message_id: None,
            queued: 0,
        };
        let handle = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.conn = Some(conn);
                ConnectionHandle::from_raw(index, slot.generation)
            }
            None => {
                let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot {
                    generation: 0,
                    conn: Some(conn),
                });
                ConnectionHandle::from_raw(index, 0)
            }
        };
        self.open += 1;
        self.event(Event::Connected {
            conn: handle,
            id,
            fingerprint,
        });
        if let Some(w) = &self.config.welcome {
            let text = Text::from(reply::encode_welcome(w));
            self.transmit(handle, text);
        }
        Ok(handle)
    }

    /// One complete WebSocket text message from the peer. Stale handles are ignored.
    pub fn handle_text(&mut self, conn: ConnectionHandle, text: &str, now: Instant) {
        let now = self.clock.advance(now);
        if self.conn(conn).is_none() {
            return;
        }
        if text.len() > self.config.max_message_len {
            return self.too_large(conn, text.len(), now);
        }
        let frame = match wire::request::decode(text) {
            Ok(f) => f,
            Err(e) => {
                self.violation(conn, ProtocolError::InvalidJson(e), now);
                return;
            }
        };
        if let Some(c) = self.conn_mut(conn) {
            c.violations = 0;
        }
        match frame {
            ClientFrame::Pong(_) => {
                if let Some(c) = self.conn_mut(conn) {
                    c.alive = true;
                }
            }
            ClientFrame::IdRequest => {
                let Some(c) = self.conn(conn) else { return };
                let text = Text::from(primus::encode_id(&c.spark_id));
                self.transmit(conn, text);
            }
            ClientFrame::Request(req) => self.dispatch(conn, req, now),
        }
    }

    /// A binary message from the peer: answered, as Actionhero does, with a verb error
    /// echoing the bytes as `{"type":"Buffer","data":[…]}`.
    pub fn handle_binary(&mut self, conn: ConnectionHandle, data: &[u8], now: Instant) {
        let now = self.clock.advance(now);
        if self.conn(conn).is_none() {
            return;
        }
        if data.len() > self.config.max_message_len {
            return self.too_large(conn, data.len(), now);
        }
        self.event(Event::ProtocolViolation {
            conn,
            error: ProtocolError::BinaryMessage { len: data.len() },
        });
        let req = wire::request::decode_binary(data);
        self.dispatch(conn, req, now);
    }

    /// A WebSocket-level ping frame from the peer: Primus counts it as liveness.
    pub fn handle_ws_ping(&mut self, conn: ConnectionHandle, now: Instant) {
        self.clock.advance(now);
        if let Some(c) = self.conn_mut(conn) {
            c.alive = true;
        }
    }

    /// The socket is gone (peer close, IO error, oversize message). Idempotent; stale
    /// handles are ignored.
    pub fn handle_closed(&mut self, conn: ConnectionHandle, cause: CloseCause, now: Instant) {
        let now = self.clock.advance(now);
        let reason = match cause {
            CloseCause::MessageTooLarge => DisconnectReason::MessageTooLarge,
            CloseCause::PeerClosed { .. } | CloseCause::Transport => {
                DisconnectReason::Socket(cause)
            }
        };
        self.end(conn, None, reason, now);
    }

    /// Runs due timers (heartbeat tick, shutdown grace). Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock.advance(now);
        if let (Some(tick), Some(interval)) = (self.next_tick, self.config.ping_interval) {
            if tick <= now {
                let mut next = time::add(tick, interval);
                if next <= now {
                    next = time::add(now, interval);
                }
                self.next_tick = Some(next);
                self.heartbeat(now);
            }
        }
        if let Some(sd) = self.shutdown {
            if sd.deadline.is_some_and(|d| d <= now) {
                if let Some(s) = &mut self.shutdown {
                    s.deadline = None;
                }
                for h in self.handles() {
                    self.close_for_shutdown(h, now);
                }
                self.check_shutdown_complete();
            }
        }
    }

    // ---- application commands ------------------------------------------------------

    /// Answers an [`Event::ActionRequested`]. The frame carries that request's messageId.
    ///
    /// # Errors
    /// [`UsageError::UnknownRequest`] if `request` is not an outstanding action (never
    /// issued, already answered, or a file request).
    pub fn respond(
        &mut self,
        request: RequestId,
        outcome: ActionOutcome,
        now: Instant,
    ) -> Result<Delivery, UsageError> {
        let now = self.clock.advance(now);
        if self.web.contains_key(&request) {
            self.respond_web(request, outcome, now);
            return Ok(Delivery::Queued);
        }
        let Some(p) = self.take_pending(request, PendingKind::Action)? else {
            return Ok(Delivery::ConnectionGone);
        };
        let text = match outcome {
            ActionOutcome::Ok(fields) => {
                Some(reply::encode_action_response(&fields, None, &p.message_id))
            }
            ActionOutcome::Err { message, fields } => Some(reply::encode_action_response(
                &fields,
                Some(&message),
                &p.message_id,
            )),
            ActionOutcome::NoResponse => None,
        };
        if let Some(text) = text {
            self.transmit(p.conn, Text::from(text));
        }
        self.after_request_done(p.conn, now);
        Ok(Delivery::Queued)
    }

    /// Answers an [`Event::FileRequested`], with the file request's own messageId.
    ///
    /// # Errors
    /// [`UsageError::UnknownRequest`] if `request` is not an outstanding file request.
    pub fn complete_file(
        &mut self,
        request: RequestId,
        outcome: FileOutcome,
        now: Instant,
    ) -> Result<Delivery, UsageError> {
        let now = self.clock.advance(now);
        let Some(p) = self.take_pending(request, PendingKind::File)? else {
            return Ok(Delivery::ConnectionGone);
        };
        let text = match outcome {
            FileOutcome::Found {
                content,
                mime,
                length,
                last_modified_ms,
            } => reply::encode_file(
                &content,
                mime.as_deref(),
                length,
                &time::iso8601_ms(last_modified_ms),
                &p.message_id,
            ),
            FileOutcome::NotFound => reply::encode_file_not_found(&p.message_id),
        };
        self.transmit(p.conn, Text::from(text));
        self.after_request_done(p.conn, now);
        Ok(Delivery::Queued)
    }

    /// Creates a room.
    ///
    /// # Errors
    /// [`RoomError::AlreadyExists`], or [`RoomError::LimitReached`] at `max_rooms`.
    pub fn create_room(&mut self, room: RoomName) -> Result<(), RoomError> {
        if self.rooms.exists(room.as_str()) {
            return Err(RoomError::AlreadyExists);
        }
        if self.rooms.len() >= self.config.max_rooms {
            return Err(RoomError::LimitReached);
        }
        self.rooms.create(room);
        Ok(())
    }

    /// Destroys a room: members get `this room has been deleted` (from `"0"`) and leave.
    ///
    /// # Errors
    /// [`RoomError::NotFound`].
    pub fn destroy_room(&mut self, room: &RoomName, now: Instant) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        self.deliver_chat(
            room,
            Value::String("this room has been deleted".into()),
            "0",
            self.clock.epoch_ms(now),
        );
        let members = self.rooms.destroy(room.as_str()).unwrap_or_default();
        for h in members {
            self.run_leave_hooks(h, room);
            if let Some(c) = self.conn_mut(h) {
                c.rooms.retain(|r| r != room);
            }
            self.event(Event::RoomLeft {
                conn: h,
                room: room.clone(),
            });
        }
        Ok(())
    }

    /// Adds a connection to a room (join hooks run).
    ///
    /// # Errors
    /// [`RoomError`] for a missing room or connection, a duplicate, a limit or a hook
    /// refusal.
    pub fn add_member(
        &mut self,
        conn: ConnectionHandle,
        room: &RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        self.join(conn, room.as_str(), now)
    }

    /// Removes a connection from a room (leave hooks run).
    ///
    /// # Errors
    /// [`RoomError`] for a missing room or connection, a non-member or a hook refusal.
    pub fn remove_member(
        &mut self,
        conn: ConnectionHandle,
        room: &RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        self.clock.advance(now);
        self.leave(conn, room.as_str())
    }

    /// Sends a chat message to every member of `room` as the server (`from: "0"`); say
    /// hooks run per receiver. Returns the number of members reached.
    ///
    /// # Errors
    /// [`RoomError::NotFound`].
    pub fn broadcast(
        &mut self,
        room: &RoomName,
        message: Value,
        now: Instant,
    ) -> Result<usize, RoomError> {
        let now = self.clock.advance(now);
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        let sent_at = self.clock.epoch_ms(now);
        Ok(self.deliver_chat(room, message, "0", sent_at))
    }

    /// Sends a message to one connection through Actionhero's `sendMessage` envelope
    /// (`context` defaults to `"response"`, stamped with the last inbound messageId).
    pub fn send(
        &mut self,
        conn: ConnectionHandle,
        message: Map<String, Value>,
        now: Instant,
    ) -> Delivery {
        self.clock.advance(now);
        let Some(c) = self.conn_mut(conn) else {
            return Delivery::ConnectionGone;
        };
        let last = c.last_message_id.clone();
        let text = reply::encode_message(&message, last.as_ref());
        self.transmit(conn, Text::from(text));
        Delivery::Queued
    }

    /// Sends `{"message":…,"context":"alert"}` to one connection.
    pub fn alert(&mut self, conn: ConnectionHandle, message: &Value, now: Instant) -> Delivery {
        self.clock.advance(now);
        if self.conn(conn).is_none() {
            return Delivery::ConnectionGone;
        }
        self.transmit(conn, Text::from(reply::encode_alert(message)));
        Delivery::Queued
    }

    /// Closes a connection from the application side. Stale handles are ignored.
    pub fn close(&mut self, conn: ConnectionHandle, reason: CloseReason, now: Instant) {
        let now = self.clock.advance(now);
        match reason {
            CloseReason::Destroy => self.destroy(conn, DisconnectReason::Closed(reason), now),
            CloseReason::SlowConsumer => self.end(
                conn,
                Some(Frame::Close {
                    code: Some(1008),
                    reason: "slow consumer",
                }),
                DisconnectReason::Closed(reason),
                now,
            ),
        }
    }

    /// Starts a graceful shutdown: new connections are refused, new actions answer
    /// `the server is shutting down`, idle connections close now and busy ones once their
    /// requests are answered (or after `shutdown_grace`). With `reconnect = false` clients
    /// get `primus::server::close` first so they stay away. Emits
    /// [`Event::ShutdownComplete`] when the last connection is gone.
    pub fn shutdown(&mut self, reconnect: bool, now: Instant) {
        let now = self.clock.advance(now);
        if self.shutdown.is_some() {
            return;
        }
        self.shutdown = Some(Shutdown {
            reconnect,
            deadline: Some(time::add(now, self.config.shutdown_grace)),
            reported: false,
        });
        self.next_tick = None;
        for h in self.handles() {
            let busy = self.conn(h).is_some_and(|c| !c.requests.is_empty());
            if busy {
                if let Some(c) = self.conn_mut(h) {
                    c.state = ConnState::Draining;
                }
            } else {
                self.close_for_shutdown(h, now);
            }
        }
        self.check_shutdown_complete();
    }

    // ---- outputs -------------------------------------------------------------------

    /// The next output, or `None` when drained. Call after every input and command.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.out.pop_front()?;
        if let Output::Transmit(t) = &out {
            let h = t.conn;
            if let Some(c) = self.conn_mut(h) {
                c.queued = c.queued.saturating_sub(1);
            }
        }
        Some(out)
    }

    /// When `handle_timeout` should next be called. Changes after `handle_timeout`,
    /// `shutdown` and `new`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(t, _)| t)
    }

    /// Which timer [`Server::poll_timeout`] reports.
    pub fn timeout_reason(&self) -> Option<TimerKind> {
        self.next_timer().map(|(_, k)| k)
    }

    // ---- getters -------------------------------------------------------------------

    /// A view of one connection.
    pub fn connection(&self, conn: ConnectionHandle) -> Option<ConnectionView<'_>> {
        let c = self.conn(conn)?;
        Some(ConnectionView {
            id: &c.id,
            fingerprint: &c.fingerprint,
            remote_ip: &c.remote_ip,
            remote_port: c.remote_port,
            connected_at_ms: c.connected_at,
            rooms: &c.rooms,
            total_actions: c.total_actions,
            pending_actions: c.pending_actions,
        })
    }

    /// Members of a room, in join order (empty for a missing room).
    pub fn members(&self, room: &str) -> Vec<ConnectionHandle> {
        self.rooms
            .get(room)
            .map(|r| r.members().map(|(h, _)| h).collect())
            .unwrap_or_default()
    }

    /// True if the room exists.
    pub fn room_exists(&self, room: &str) -> bool {
        self.rooms.exists(room)
    }

    /// All rooms, sorted.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.names()
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.open
    }

    /// True when there are no connections.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// True when there are no connections and no queued outputs.
    pub fn is_idle(&self) -> bool {
        self.open == 0 && self.out.is_empty()
    }

    /// Live connection handles, in slot order.
    pub fn handles(&self) -> Vec<ConnectionHandle> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| ConnectionHandle::from_raw(i as u32, s.generation))
            .collect()
    }

    // ---- dispatch (docs/protocol.md#dispatch-and-message-ids) -------------------------

    fn dispatch(&mut self, conn: ConnectionHandle, req: Request, now: Instant) {
        let message_id = match req.message_id.clone() {
            Some(id) => id,
            None => MessageId::Text(self.rng.uuid_v4().into()),
        };
        if let Some(c) = self.conn_mut(conn) {
            c.last_message_id = Some(message_id.clone());
        }
        match req.verb {
            Verb::Action => self.action(conn, req, message_id, now),
            Verb::File => self.file(conn, &req, message_id),
            _ => self.verb(conn, req, message_id, now),
        }
    }

    fn action(
        &mut self,
        conn: ConnectionHandle,
        mut req: Request,
        message_id: MessageId,
        now: Instant,
    ) {
        let mut params = req.take_action_params();
        let spec = self.actions.resolve(&mut params);
        let shutting_down = self.shutdown.is_some();
        let limit = self.config.simultaneous_actions;
        let Some(c) = self.conn_mut(conn) else { return };
        c.total_actions += 1;
        let refusal = if shutting_down {
            Some(Refusal::ShuttingDown)
        } else if c.pending_actions >= limit {
            Some(Refusal::TooManyPending)
        } else {
            None
        };
        let result = match (refusal, spec) {
            (Some(r), _) => Err(r),
            (None, None) => Err(Refusal::Unknown),
            (None, Some(spec)) if spec.block_websocket => Err(Refusal::Unsupported),
            (None, Some(spec)) => process_params(&spec, params).map(|p| (spec, p)),
        };
        match result {
            Err(r) => {
                let text =
                    reply::encode_action_response(&Map::new(), Some(&r.message()), &message_id);
                self.transmit(conn, Text::from(text));
                self.after_request_done(conn, now);
            }
            Ok((spec, params)) => {
                let request = self.new_request(conn, message_id.clone(), PendingKind::Action);
                if let Some(c) = self.conn_mut(conn) {
                    c.pending_actions += 1;
                }
                self.event(Event::ActionRequested {
                    conn,
                    request,
                    message_id,
                    action: spec.name.clone(),
                    params,
                });
            }
        }
    }

    fn file(&mut self, conn: ConnectionHandle, req: &Request, message_id: MessageId) {
        let limit = self.config.max_pending_files_per_connection;
        let Some(c) = self.conn(conn) else { return };
        let path = match req.file() {
            Some(Value::String(s)) if c.pending_files < limit => {
                crate::http::files::safe_relative_path(s).map(str::to_owned)
            }
            Some(_) | None => None,
        };
        let Some(file) = path else {
            let text = reply::encode_file_not_found(&message_id);
            self.transmit(conn, Text::from(text));
            return;
        };
        let request = self.new_request(conn, message_id.clone(), PendingKind::File);
        if let Some(c) = self.conn_mut(conn) {
            c.pending_files += 1;
        }
        self.event(Event::FileRequested {
            conn,
            request,
            message_id,
            file,
        });
    }

    fn verb(&mut self, conn: ConnectionHandle, req: Request, id: MessageId, now: Instant) {
        let allowed = self
            .config
            .allowed_verbs
            .iter()
            .any(|v| v == req.verb.name());
        if !allowed {
            let msg = format!("Error: verb not found or not allowed ({})", req.verb.name());
            return self.verb_error(conn, &msg, &req, &id);
        }
        let words = req.words();
        let room_word = words.first().map(|w| js::js_string(w));
        let room_name = room_word.clone().unwrap_or_else(|| "undefined".into());
        let result: Result<Option<Value>, String> = match req.verb {
            Verb::Quit | Verb::Exit => {
                self.destroy(conn, DisconnectReason::Quit, now);
                return;
            }
            Verb::DetailsView => Ok(self.details(conn)),
            Verb::Documentation => Ok(Some(self.actions.documentation())),
            Verb::RoomAdd => {
                let in_room = self.is_member_local(conn, &room_name);
                if in_room {
                    Err(format!("connection already in this room ({room_name})"))
                } else {
                    match room_word {
                        None => Err("room does not exist".into()),
                        Some(r) => self
                            .join(conn, &r, now)
                            .map(|()| Some(Value::Bool(true)))
                            .map_err(|e| verb_room_error(e, &r)),
                    }
                }
            }
            Verb::RoomLeave => {
                if !self.is_member_local(conn, &room_name) {
                    Err(format!("connection not in this room ({room_name})"))
                } else {
                    self.leave(conn, &room_name)
                        .map(|()| Some(Value::Bool(true)))
                        .map_err(|e| verb_room_error(e, &room_name))
                }
            }
            Verb::RoomView => {
                if !self.is_member_local(conn, &room_name) {
                    Err(format!("connection not in this room ({room_name})"))
                } else {
                    self.room_view(&room_name)
                        .ok_or_else(|| "room does not exist".to_string())
                        .map(Some)
                }
            }
            Verb::Say => self.say(conn, &words, now).map(|()| None),
            Verb::Action | Verb::File | Verb::Other(_) => Err(format!(
                "verb not found or not allowed ({})",
                req.verb.name()
            )),
        };
        match result {
            Ok(data) => {
                let text = reply::encode_verb_ok(data.as_ref(), &id);
                // The say response goes out before the chat copies (as observed live):
                // `say` queued the deliveries already, so put the response in front of them.
                self.transmit_front_of_chat(conn, Text::from(text), req.verb == Verb::Say);
            }
            Err(e) => self.verb_error(conn, &format!("Error: {e}"), &req, &id),
        }
    }

    fn verb_error(&mut self, conn: ConnectionHandle, error: &str, req: &Request, id: &MessageId) {
        let text = reply::encode_verb_error(error, &req.remnant, id);
        self.transmit(conn, Text::from(text));
    }

    fn details(&self, conn: ConnectionHandle) -> Option<Value> {
        let c = self.conn(conn)?;
        let mut d = Map::with_capacity(9);
        d.insert("id".into(), Value::String(c.id.to_string()));
        d.insert(
            "fingerprint".into(),
            Value::String(c.fingerprint.to_string()),
        );
        d.insert("remoteIP".into(), Value::String(c.remote_ip.clone()));
        d.insert("remotePort".into(), Value::from(c.remote_port));
        d.insert("params".into(), Value::Object(Map::new()));
        d.insert("connectedAt".into(), Value::from(c.connected_at));
        d.insert(
            "rooms".into(),
            Value::Array(
                c.rooms
                    .iter()
                    .map(|r| Value::String(r.to_string()))
                    .collect(),
            ),
        );
        d.insert("totalActions".into(), Value::from(c.total_actions));
        d.insert("pendingActions".into(), Value::from(c.pending_actions));
        Some(Value::Object(d))
    }

    fn room_view(&self, room: &str) -> Option<Value> {
        let r = self.rooms.get(room)?;
        let mut members = Map::with_capacity(r.len());
        for (h, joined_at) in r.members() {
            let Some(c) = self.conn(h) else { continue };
            let mut m = Map::with_capacity(2);
            m.insert("id".into(), Value::String(c.id.to_string()));
            m.insert("joinedAt".into(), Value::from(joined_at));
            members.insert(c.id.to_string(), Value::Object(m));
        }
        let count = members.len();
        let mut d = Map::with_capacity(3);
        d.insert("room".into(), Value::String(room.into()));
        d.insert("members".into(), Value::Object(members));
        d.insert("membersCount".into(), Value::from(count));
        Some(Value::Object(d))
    }

    fn say(
        &mut self,
        conn: ConnectionHandle,
        words: &[&Value],
        now: Instant,
    ) -> Result<(), String> {
        let room = words.first().filter(|w| js::truthy(w));
        let message = words
            .iter()
            .skip(1)
            .map(|w| js::js_string(w))
            .collect::<Vec<_>>()
            .join(" ");
        let Some(room) = room else {
            return Err("both room and message are required".into());
        };
        if message.is_empty() {
            return Err("both room and message are required".into());
        }
        let room = js::js_string(room);
        if !self.is_member_local(conn, &room) {
            return Err(format!("connection not in this room ({room})"));
        }
        let Some(c) = self.conn(conn) else {
            return Err("connection is gone".into());
        };
        let from = c.id.to_string();
        let sent_at = self.clock.epoch_ms(now);
        let mut payload = Some(reply::say_payload(
            Value::String(message),
            &room,
            &from,
            sent_at,
        ));
        if !self.hooks.is_empty() {
            let Some(c) = self.conn(conn) else {
                return Err("connection is gone".into());
            };
            let (id, rooms) = (c.id.clone(), c.rooms.clone());
            let info = ConnectionInfo {
                handle: conn,
                id: &id,
                rooms: &rooms,
            };
            for (_, h) in &mut self.hooks {
                payload = h.on_say_receive(info, payload)?;
            }
        }
        let Some(p) = payload else { return Ok(()) };
        // Only these four fields survive the publish (docs/protocol.md#say-delivery, step 3).
        let message = p.get("message").cloned().unwrap_or(Value::Null);
        let room = p.get("room").map(js::js_string).unwrap_or_default();
        let from = p.get("from").map(js::js_string).unwrap_or_default();
        let sent_at = p.get("sentAt").and_then(Value::as_u64).unwrap_or(sent_at);
        if let Ok(room) = RoomName::new(&room) {
            self.deliver_chat(&room, message, &from, sent_at);
        }
        Ok(())
    }

    /// Delivers one chat message to every member of `room` in join order; returns the
    /// number of receivers.
    fn deliver_chat(&mut self, room: &RoomName, message: Value, from: &str, sent_at: u64) -> usize {
        let members: Vec<ConnectionHandle> = self.members(room.as_str());
        let payload = reply::say_payload(message, room.as_str(), from, sent_at);
        if self.hooks.is_empty() {
            // One encoding shared by every receiver.
            let text = Text::from(reply::encode_message(&payload, None));
            for h in &members {
                self.transmit(*h, text.clone());
            }
            return members.len();
        }
        let mut reached = 0;
        for h in members {
            let Some(c) = self.conn(h) else { continue };
            let (id, rooms) = (c.id.clone(), c.rooms.clone());
            let info = ConnectionInfo {
                handle: h,
                id: &id,
                rooms: &rooms,
            };
            let mut p = Some(payload.clone());
            for (_, hook) in &mut self.hooks {
                p = p.and_then(|p| hook.say(info, room, p));
            }
            if let Some(p) = p {
                self.transmit(h, Text::from(reply::encode_message(&p, None)));
                reached += 1;
            }
        }
        reached
    }

    // ---- rooms ---------------------------------------------------------------------

    fn is_member_local(&self, conn: ConnectionHandle, room: &str) -> bool {
        self.conn(conn)
            .is_some_and(|c| c.rooms.iter().any(|r| r.as_str() == room))
    }

    fn join(&mut self, conn: ConnectionHandle, room: &str, now: Instant) -> Result<(), RoomError> {
        let max_rooms = self.config.max_rooms_per_connection;
        let Some(c) = self.conn(conn) else {
            return Err(RoomError::ConnectionGone);
        };
        if c.rooms.iter().any(|r| r.as_str() == room) {
            return Err(RoomError::AlreadyMember);
        }
        if !self.rooms.exists(room) {
            return Err(RoomError::NotFound);
        }
        let Ok(room) = RoomName::new(room) else {
            return Err(RoomError::NotFound);
        };
        if c.rooms.len() >= max_rooms {
            return Err(RoomError::LimitReached);
        }
        let (id, rooms) = (c.id.clone(), c.rooms.clone());
        let info = ConnectionInfo {
            handle: conn,
            id: &id,
            rooms: &rooms,
        };
        for (_, h) in &mut self.hooks {
            h.join(info, &room).map_err(RoomError::Rejected)?;
        }
        let joined_at = self.clock.epoch_ms(now);
        self.rooms.add(room.as_str(), conn, joined_at);
        if let Some(c) = self.conn_mut(conn) {
            c.rooms.push(room.clone());
        }
        self.event(Event::RoomJoined { conn, room });
        Ok(())
    }

    fn leave(&mut self, conn: ConnectionHandle, room: &str) -> Result<(), RoomError> {
        let Some(c) = self.conn(conn) else {
            return Err(RoomError::ConnectionGone);
        };
        let Some(room) = c.rooms.iter().find(|r| r.as_str() == room).cloned() else {
            return Err(RoomError::NotMember);
        };
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        let (id, rooms) = (c.id.clone(), c.rooms.clone());
        let info = ConnectionInfo {
            handle: conn,
            id: &id,
            rooms: &rooms,
        };
        for (_, h) in &mut self.hooks {
            h.leave(info, &room).map_err(RoomError::Rejected)?;
        }
        self.rooms.remove(room.as_str(), conn);
        if let Some(c) = self.conn_mut(conn) {
            c.rooms.retain(|r| *r != room);
        }
        self.event(Event::RoomLeft { conn, room });
        Ok(())
    }

    fn run_leave_hooks(&mut self, conn: ConnectionHandle, room: &RoomName) {
        if self.hooks.is_empty() {
            return;
        }
        let Some(c) = self.conn(conn) else { return };
        let (id, rooms) = (c.id.clone(), c.rooms.clone());
        let info = ConnectionInfo {
            handle: conn,
            id: &id,
            rooms: &rooms,
        };
        for (_, h) in &mut self.hooks {
            // A closing connection leaves whatever the hook says.
            let _ = h.leave(info, room);
        }
    }

    // ---- heartbeat, teardown ---------------------------------------------------------

    fn heartbeat(&mut self, now: Instant) {
        let ping = Text::from(primus::encode_ping(self.clock.epoch_ms(now)));
        let mut dead = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(c) = &mut slot.conn else { continue };
            let h = ConnectionHandle::from_raw(i as u32, slot.generation);
            if c.alive {
                c.alive = false;
                c.queued += 1;
                self.out.push_back(Output::Transmit(Transmit {
                    conn: h,
                    frame: Frame::Text(ping.clone()),
                }));
            } else {
                dead.push(h);
            }
        }
        for h in dead {
            self.end(
                h,
                Some(Frame::Close {
                    code: None,
                    reason: "",
                }),
                DisconnectReason::HeartbeatTimeout,
                now,
            );
        }
        let limit = self.config.max_outbound_queue_per_connection;
        let slow: Vec<ConnectionHandle> = self
            .handles()
            .into_iter()
            .filter(|h| self.conn(*h).is_some_and(|c| c.queued > limit))
            .collect();
        for h in slow {
            self.slow_consumer(h, now);
        }
    }

    /// Actionhero's `connection.destroy()`: `primus::server::close`, close, teardown.
    fn destroy(&mut self, conn: ConnectionHandle, reason: DisconnectReason, now: Instant) {
        if self.conn(conn).is_none() {
            return;
        }
        self.push_frame(conn, Frame::Text(Text::from(primus::SERVER_CLOSE)));
        self.end(
            conn,
            Some(Frame::Close {
                code: None,
                reason: "",
            }),
            reason,
            now,
        );
    }

    fn close_for_shutdown(&mut self, conn: ConnectionHandle, now: Instant) {
        let reconnect = self.shutdown.is_some_and(|s| s.reconnect);
        if reconnect {
            self.end(
                conn,
                Some(Frame::Close {
                    code: Some(1001),
                    reason: "server shutting down",
                }),
                DisconnectReason::Shutdown,
                now,
            );
        } else {
            self.destroy(conn, DisconnectReason::Shutdown, now);
        }
    }

    fn after_request_done(&mut self, conn: ConnectionHandle, now: Instant) {
        let drained = self
            .conn(conn)
            .is_some_and(|c| c.state == ConnState::Draining && c.requests.is_empty());
        if drained {
            self.close_for_shutdown(conn, now);
            self.check_shutdown_complete();
        }
    }

    fn check_shutdown_complete(&mut self) {
        let Some(sd) = &mut self.shutdown else { return };
        if self.open == 0 && !sd.reported {
            sd.reported = true;
            sd.deadline = None;
            self.out.push_back(Output::Event(Event::ShutdownComplete));
        }
    }

    fn violation(&mut self, conn: ConnectionHandle, error: ProtocolError, now: Instant) {
        let max = self.config.max_consecutive_violations;
        let Some(c) = self.conn_mut(conn) else { return };
        c.violations += 1;
        let too_many = c.violations >= max;
        self.event(Event::ProtocolViolation { conn, error });
        if too_many {
            self.end(
                conn,
                Some(Frame::Close {
                    code: Some(1008),
                    reason: "too many invalid frames",
                }),
                DisconnectReason::TooManyViolations,
                now,
            );
        }
    }

    /// A message over `max_message_len`: reported, then the connection closes with 1009.
    fn too_large(&mut self, conn: ConnectionHandle, len: usize, now: Instant) {
        let max = self.config.max_message_len;
        let error = ProtocolError::MessageTooLarge { len, max };
        self.event(Event::ProtocolViolation { conn, error });
        self.end(
            conn,
            Some(Frame::Close {
                code: Some(1009),
                reason: "message too big",
            }),
            DisconnectReason::MessageTooLarge,
            now,
        );
    }

    fn slow_consumer(&mut self, conn: ConnectionHandle, now: Instant) {
        self.end(
            conn,
            Some(Frame::Close {
                code: Some(1008),
                reason: "slow consumer",
            }),
            DisconnectReason::SlowConsumer,
            now,
        );
    }

    /// Ends a connection: optional last frame, leave every room (leave hooks run),
    /// orphan pending requests, free the slot, and `Disconnected` last.
    fn end(
        &mut self,
        conn: ConnectionHandle,
        last_frame: Option<Frame>,
        reason: DisconnectReason,
        _now: Instant,
    ) {
        if self.conn(conn).is_none() {
            return;
        }
        if let Some(f) = last_frame {
            self.push_frame(conn, f);
        }
        let rooms = self.conn(conn).map(|c| c.rooms.clone()).unwrap_or_default();
        for room in rooms {
            self.run_leave_hooks(conn, &room);
            self.rooms.remove(room.as_str(), conn);
            if let Some(c) = self.conn_mut(conn) {
                c.rooms.retain(|r| *r != room);
            }
            self.event(Event::RoomLeft { conn, room });
        }
        let slot = &mut self.slots[conn.index as usize];
        let Some(c) = slot.conn.take() else { return };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(conn.index);
        self.open -= 1;
        for r in c.requests {
            if let Some(p) = self.pending.get_mut(&r) {
                p.orphaned = true;
            }
        }
        self.event(Event::Disconnected { conn, reason });
        self.check_shutdown_complete();
    }

    // ---- plumbing ------------------------------------------------------------------

    /// Removes an outstanding request of `kind` and releases its connection's slot;
    /// `Ok(None)` when its connection is gone.
    fn take_pending(
        &mut self,
        request: RequestId,
        kind: PendingKind,
    ) -> Result<Option<Pending>, UsageError> {
        match self.pending.get(&request) {
            Some(p) if p.kind == kind => {}
            Some(_) | None => return Err(UsageError::UnknownRequest),
        }
        let Some(p) = self.pending.remove(&request) else {
            return Err(UsageError::UnknownRequest);
        };
        if p.orphaned {
            return Ok(None);
        }
        if let Some(c) = self.conn_mut(p.conn) {
            match kind {
                PendingKind::Action => c.pending_actions = c.pending_actions.saturating_sub(1),
                PendingKind::File => c.pending_files = c.pending_files.saturating_sub(1),
            }
            c.requests.retain(|r| *r != request);
        }
        Ok(Some(p))
    }

    fn new_request(
        &mut self,
        conn: ConnectionHandle,
        message_id: MessageId,
        kind: PendingKind,
    ) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            Pending {
                conn,
                message_id,
                kind,
                orphaned: false,
            },
        );
        if let Some(c) = self.conn_mut(conn) {
            c.requests.push(id);
        }
        id
    }

    fn conn(&self, h: ConnectionHandle) -> Option<&Conn> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.conn.as_ref()
    }

    fn conn_mut(&mut self, h: ConnectionHandle) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Queues a frame without the slow-consumer check (close frames, server::close).
    fn push_frame(&mut self, conn: ConnectionHandle, frame: Frame) {
        if let Some(c) = self.conn_mut(conn) {
            c.queued += 1;
        }
        self.out
            .push_back(Output::Transmit(Transmit { conn, frame }));
    }

    /// Queues a text frame; a connection over its outbound limit is closed instead.
    fn transmit(&mut self, conn: ConnectionHandle, text: Text) {
        let limit = self.config.max_outbound_queue_per_connection;
        let Some(c) = self.conn_mut(conn) else { return };
        if c.queued >= limit {
            let now = self.clock.last();
            self.slow_consumer(conn, now);
            return;
        }
        c.queued += 1;
        self.out.push_back(Output::Transmit(Transmit {
            conn,
            frame: Frame::Text(text),
        }));
    }

    /// Queues `text` for `conn`; for a say response, ahead of that connection's own chat
    /// copy queued by the same request, so the client sees the ack first.
    fn transmit_front_of_chat(&mut self, conn: ConnectionHandle, text: Text, is_say: bool) {
        if !is_say {
            return self.transmit(conn, text);
        }
        let pos = self.out.iter().rposition(|o| match o {
            Output::Transmit(t) => t.conn == conn && is_user_chat(&t.frame),
            Output::Event(_) | Output::Http(_) => false,
        });
        match (pos, self.conn_mut(conn)) {
            (Some(p), Some(c)) => {
                c.queued += 1;
                self.out.insert(
                    p,
                    Output::Transmit(Transmit {
                        conn,
                        frame: Frame::Text(text),
                    }),
                );
            }
            _ => self.transmit(conn, text),
        }
    }

    fn next_timer(&self) -> Option<(Instant, TimerKind)> {
        let hb = self.next_tick.map(|t| (t, TimerKind::Heartbeat));
        let sd = self
            .shutdown
            .and_then(|s| s.deadline)
            .map(|t| (t, TimerKind::ShutdownGrace));
        match (hb, sd) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

fn is_user_chat(frame: &Frame) -> bool {
    frame
        .as_text()
        .is_some_and(|t| t.starts_with("{\"message\":") && t.contains("\"context\":\"user\""))
}

fn verb_room_error(e: RoomError, room: &str) -> String {
    match e {
        RoomError::AlreadyMember => format!("connection already in this room ({room})"),
        RoomError::NotMember => format!("connection not in this room ({room})"),
        RoomError::LimitReached => "too many rooms for this connection".into(),
        RoomError::Rejected(m) => m,
        RoomError::NotFound | RoomError::AlreadyExists | RoomError::ConnectionGone => {
            "room does not exist".into()
        }
    }
}

/// Ping interval of the default configuration, for adapters that serve `/primus/spec`.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_millis(30_000);
