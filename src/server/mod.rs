//! The sans-IO Actionhero WebSocket server.
//!
//! One [`Server`] holds every connection of one endpoint. The adapter feeds it with
//! `handle_*` inputs (a connection opened, a text message arrived, a socket closed, time
//! passed), the application with commands ([`Server::respond`], [`Server::broadcast`],
//! …), and both drain [`Server::poll_output`] and sleep until [`Server::poll_timeout`].
//!
//! Where things live (docs/architecture.md#server):
//! * this file: the [`Server`] surface — inputs, commands, drains, getters — and the
//!   request table;
//! * [`types`](self#types): what the server emits and takes ([`Output`], [`Event`],
//!   [`ActionOutcome`], …);
//! * `conn.rs`: one connection's state machine (its state enum, diagram and every
//!   transition that ends or changes a connection);
//! * `verbs.rs`: what each client request does; `chat.rs`: rooms and `say`;
//!   `rooms.rs`: the room registry, the one store of membership (of this server's
//!   connections); `shared.rs`: rooms shared with other cores
//!   ([`Server::with_shared_rooms`]);
//! * `action.rs`: the action registry and param validation; `web.rs`: actions over HTTP;
//!   `hooks.rs`: chat middleware; `config.rs`: limits and settings;
//! * `stats.rs`: the counters behind [`Server::stats`].

mod action;
mod chat;
mod config;
mod conn;
mod hooks;
mod mime;
mod rooms;
mod shared;
mod stats;
mod types;
mod verbs;
mod web;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

pub use action::{
    failed_validation, ActionHandlers, ActionKey, ActionRegistry, ActionSpec, Formatter, Input,
    Validator, GLOBAL_SAFE_PARAMS,
};
pub use config::{ServerConfig, DEFAULT_VERBS};
pub use hooks::{ChatHooks, ConnectionInfo};
pub use mime::mime_type;
pub use shared::{
    RoomCommand, SharedOutput, SharedRoomsConfig, StoreAnswer, StoreOp, StoreRequestId,
    SHARED_BUSY_ERROR, SHARED_TIMEOUT_ERROR,
};
pub use stats::{ActionStats, Histogram, ServerStats, LATENCY_BUCKETS_US, UNKNOWN_ACTION};
pub use types::{
    ActionCall, ActionContext, ActionOutcome, CloseReason, ConnectionView, Delivery,
    DisconnectReason, Event, FileOutcome, OpenRejected, Output, RequestId, RoomError, TimerKind,
    Transmit, Violation, ACTION_FAILED,
};
pub use web::HttpTransmit;

use crate::error::{ConfigError, UsageError};
pub use crate::frame::CloseCause;
use crate::frame::{Frame, Text};
use crate::handshake::{Handshake, HandshakeConfig};
use crate::http::{Router, WebConfig};
use crate::ids::{ConnectionHandle, ConnectionId, Fingerprint, MessageId};
use crate::time::{self, Clock, Rng};
use crate::wire::request::Incoming;
use crate::wire::{self, primus, reply, ClientFrame};
use conn::{Conn, ConnState, Slot};
use rooms::RoomRegistry;
use stats::{ActionResult, Counters, Gauges};

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
    /// The action version (`None` for a file request).
    key: Option<ActionKey>,
    /// When the request came in.
    started: Instant,
    /// The connection ended; the answer is discarded.
    orphaned: bool,
}

#[derive(Debug, Clone, Copy)]
struct Shutdown {
    reconnect: bool,
    deadline: Option<Instant>,
    reported: bool,
}

/// Hashes [`RequestId`]s, which come from the server's own counter (never from a peer),
/// with one multiplication instead of SipHash.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the odd multiplier spreads counters over all bits.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
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
    pending: HashMap<RequestId, Pending, BuildHasherDefault<IdHasher>>,
    /// How many of `pending` are actions (counted rather than iterated: a HashMap's
    /// order is not to be relied on, docs/architecture.md#enforcement).
    pending_actions: usize,
    web: BTreeMap<RequestId, web::WebPending>,
    next_request: u64,
    out: VecDeque<Output>,
    next_tick: Option<Instant>,
    shutdown: Option<Shutdown>,
    stats: Counters,
    /// Shared rooms (`None`: rooms local to this server).
    shared: Option<Box<shared::Shared>>,
    /// The tag in the top byte of every handle's generation ([`Server::set_handle_tag`]).
    handle_tag: u32,
    /// Reused to write answers before they are copied into their frame
    /// ([`Server::scratch_text`]).
    scratch: String,
}

/// The scratch buffer is dropped after a frame larger than this, so that one large
/// answer does not keep its memory.
const MAX_SCRATCH_CAPACITY: usize = 16 * 1024;

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
        Self::build(config, None, seed, now, unix_now)
    }

    /// Creates a server whose rooms are shared with other cores (worker threads, or
    /// nodes of an Actionhero cluster) through the adapter's transport: see
    /// [`Server::poll_shared`] and docs/architecture.md#shared-rooms. Chosen at
    /// construction because it needs that transport; [`Server::new`] keeps rooms local.
    ///
    /// # Errors
    /// [`ConfigError`] when `config` or `shared` is invalid.
    pub fn with_shared_rooms(
        config: ServerConfig,
        shared: SharedRoomsConfig,
        seed: [u8; 32],
        now: Instant,
        unix_now: SystemTime,
    ) -> Result<Self, ConfigError> {
        shared.validate()?;
        Self::build(config, Some(shared), seed, now, unix_now)
    }

    fn build(
        config: ServerConfig,
        shared: Option<SharedRoomsConfig>,
        seed: [u8; 32],
        now: Instant,
        unix_now: SystemTime,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let next_tick = config.ping_interval.map(|d| time::add(now, d));
        let shared = shared.map(|c| Box::new(shared::Shared::new(c, now)));
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
            pending: HashMap::default(),
            pending_actions: 0,
            web: BTreeMap::new(),
            next_request: 1,
            out: VecDeque::new(),
            next_tick,
            shutdown: None,
            stats: Counters::default(),
            shared,
            scratch: String::new(),
            handle_tag: 0,
        })
    }

    /// Marks every connection handle this server gives out with `tag`
    /// ([`ConnectionHandle::tag`]), so an adapter running several cores (one per worker
    /// thread) can tell which core a handle belongs to. Call it before the first
    /// connection; handles given out before keep their tag.
    pub fn set_handle_tag(&mut self, tag: u8) {
        self.handle_tag = u32::from(tag);
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The shared-rooms settings, when this server shares its rooms
    /// ([`Server::with_shared_rooms`]).
    pub fn shared_rooms(&self) -> Option<&SharedRoomsConfig> {
        self.shared.as_ref().map(|s| s.config())
    }

    /// The HTTP router for this server's endpoint: `handshake` and `web` as given, except
    /// that `GET /primus/spec` and the client library report the heartbeat this server
    /// really runs (its `ping_interval`, when it has one).
    ///
    /// # Errors
    /// [`ConfigError`] when `web` is invalid (see [`Router::new`]).
    pub fn router(
        &self,
        mut handshake: HandshakeConfig,
        web: WebConfig,
        started_ms: u64,
    ) -> Result<Router, ConfigError> {
        if let Some(interval) = self.config.ping_interval {
            handshake.ping_interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        }
        Router::new(handshake, web, started_ms)
    }

    /// Registers (or replaces) an action version; the returned key is what this
    /// version's [`Event::ActionRequested`] and [`Event::WebActionRequested`] carry.
    pub fn register_action(&mut self, spec: ActionSpec) -> ActionKey {
        let name = spec.name.clone();
        let key = self.actions.register(spec);
        self.stats.action_registered(key, &name);
        key
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
        let refusal = if self.shutdown.is_some() {
            Some(OpenRejected::ShuttingDown)
        } else if self.open >= self.config.max_connections {
            Some(OpenRejected::TooManyConnections)
        } else {
            None
        };
        if let Some(r) = refusal {
            self.stats.rejected(r);
            return Err(r);
        }
        let id = ConnectionId::new(self.rng.uuid_v4());
        let fingerprint = match handshake.fingerprint {
            Some(f) => Fingerprint::new(f),
            None => Fingerprint::new(id.as_str()),
        };
        let conn = Conn {
            state: ConnState::Open { alive: true },
            id: id.clone(),
            fingerprint: fingerprint.clone(),
            spark_id: self.rng.nanoid(),
            remote_ip: handshake.remote_ip,
            remote_port: handshake.remote_port,
            connected_at: self.clock.epoch_ms(now),
            total_actions: 0,
            pending_actions: 0,
            pending_files: 0,
            requests: Vec::new(),
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
                let generation = self.handle_tag << 24;
                self.slots.push(Slot {
                    generation,
                    conn: Some(conn),
                });
                ConnectionHandle::from_raw(index, generation)
            }
        };
        self.open += 1;
        self.stats.opened += 1;
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
        self.stats.messages_in += 1;
        self.stats.bytes_in += text.len() as u64;
        if text.len() > self.config.max_message_len {
            return self.too_large(conn, text.len());
        }
        let frame = match wire::request::decode_incoming(text) {
            Ok(Incoming::Frame(f)) => f,
            Ok(Incoming::Action { message_id, params }) => {
                if let Some(c) = self.conn_mut(conn) {
                    c.violations = 0;
                }
                return self.dispatch_action(conn, message_id, params, now);
            }
            Err(e) => return self.violation(conn, Violation::InvalidJson(e)),
        };
        if let Some(c) = self.conn_mut(conn) {
            c.violations = 0;
        }
        match frame {
            ClientFrame::Pong(_) => self.liveness(conn),
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
        self.stats.messages_in += 1;
        self.stats.bytes_in += data.len() as u64;
        if data.len() > self.config.max_message_len {
            return self.too_large(conn, data.len());
        }
        let violation = Violation::Binary { len: data.len() };
        self.stats.violation(&violation);
        self.event(Event::ProtocolViolation { conn, violation });
        let req = wire::request::decode_binary(data);
        self.dispatch(conn, req, now);
    }

    /// A WebSocket-level ping frame from the peer: Primus counts it as liveness.
    pub fn handle_ws_ping(&mut self, conn: ConnectionHandle, now: Instant) {
        self.clock.advance(now);
        self.liveness(conn);
    }

    /// The socket is gone (peer close, IO error, oversize message). Idempotent; stale
    /// handles are ignored.
    pub fn handle_closed(&mut self, conn: ConnectionHandle, cause: CloseCause, now: Instant) {
        self.clock.advance(now);
        let reason = match cause {
            CloseCause::MessageTooLarge => DisconnectReason::MessageTooLarge,
            cause => DisconnectReason::Socket(cause),
        };
        self.end(conn, None, reason);
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
                self.heartbeat(self.clock.epoch_ms(now));
            }
        }
        if let Some(sd) = self.shutdown {
            if sd.deadline.is_some_and(|d| d <= now) {
                if let Some(s) = &mut self.shutdown {
                    s.deadline = None;
                }
                for h in self.handles() {
                    self.close_for_shutdown(h);
                }
                self.check_shutdown_complete();
            }
        }
        if self.shared.is_some() {
            self.expire_shared(now);
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
        if let Some(p) = self.pending.get(&request) {
            if p.kind == PendingKind::Action {
                let latency = now.saturating_duration_since(p.started);
                let result = ActionResult::of_outcome(&outcome);
                self.stats.action(p.key, result, Some(latency));
            }
        }
        self.answer(request, PendingKind::Action, |buf, message_id| {
            match outcome {
                ActionOutcome::Ok(fields) => reply::write_message(buf, &fields, Some(message_id)),
                ActionOutcome::Err { message, fields } => buf.push_str(
                    &reply::encode_action_response(&fields, Some(&message), message_id),
                ),
                ActionOutcome::NoResponse => return None,
            }
            Some(Text::copied(buf))
        })
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
        self.clock.advance(now);
        if self.pending.get(&request).map(|p| p.kind) == Some(PendingKind::File) {
            self.stats
                .file(matches!(outcome, FileOutcome::Found { .. }));
        }
        self.answer(request, PendingKind::File, |_, message_id| {
            Some(Text::from(match outcome {
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
                    message_id,
                ),
                FileOutcome::NotFound => reply::encode_file_not_found(message_id),
            }))
        })
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
        self.clock.advance(now);
        match reason {
            CloseReason::Destroy => self.destroy(conn, DisconnectReason::Closed(reason)),
            CloseReason::SlowConsumer => {
                let frame = Frame::Close {
                    code: Some(1008),
                    reason: "slow consumer",
                };
                self.end(conn, Some(frame), DisconnectReason::Closed(reason));
            }
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
            self.shutdown_conn(h);
        }
        self.check_shutdown_complete();
    }

    // ---- outputs -------------------------------------------------------------------

    /// The next output, or `None` when drained. Call after every input and command.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.out.pop_front()?;
        if let Output::Transmit(t) = &out {
            self.stats.sent(&t.frame);
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

    /// A snapshot of what the server has counted (connections, messages, actions and
    /// their latency, chat, files) and of its gauges; [`crate::metrics`] renders it.
    pub fn stats(&self) -> ServerStats {
        let running = self.pending_actions + self.web.len();
        self.stats.snapshot(Gauges {
            connections_open: self.open as u64,
            actions_running: running as u64,
            rooms: self.rooms.len() as u64,
        })
    }

    /// The action an [`Event::ActionRequested`] or [`Event::WebActionRequested`] asks
    /// for, in one shape; any other event is given back.
    ///
    /// # Errors
    /// The event itself, when it asks for no action.
    // The event is handed back as it came (no box: this runs for every event).
    #[allow(clippy::result_large_err)]
    pub fn action_call(&self, event: Event) -> Result<ActionCall, Event> {
        match event {
            Event::ActionRequested {
                conn,
                request,
                message_id,
                key,
                action,
                params,
            } => {
                let connection_id = match self.conn(conn) {
                    Some(c) => c.id.clone(),
                    None => ConnectionId::new(""),
                };
                Ok(ActionCall {
                    request,
                    key,
                    conn: Some(conn),
                    connection_id,
                    message_id,
                    action,
                    params,
                })
            }
            Event::WebActionRequested {
                request,
                message_id,
                key,
                action,
                params,
                connection_id,
                ..
            } => Ok(ActionCall {
                request,
                key,
                conn: None,
                connection_id,
                message_id,
                action,
                params,
            }),
            other => Err(other),
        }
    }

    /// A view of one connection.
    pub fn connection(&self, conn: ConnectionHandle) -> Option<ConnectionView<'_>> {
        let c = self.conn(conn)?;
        Some(ConnectionView {
            id: &c.id,
            fingerprint: &c.fingerprint,
            remote_ip: &c.remote_ip,
            remote_port: c.remote_port,
            connected_at_ms: c.connected_at,
            rooms: self.rooms.rooms_of(conn),
            total_actions: c.total_actions,
            pending_actions: c.pending_actions,
        })
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.open
    }

    /// True when there are no connections.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// True when there are no connections and no queued outputs (of either drain).
    pub fn is_idle(&self) -> bool {
        self.open == 0
            && self.out.is_empty()
            && self.shared.as_ref().map_or(true, |s| s.is_drained())
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

    // ---- plumbing ------------------------------------------------------------------

    /// Answers an outstanding request of `kind` with the frame `encode` makes from its
    /// messageId (`None`: nothing to send).
    fn answer(
        &mut self,
        request: RequestId,
        kind: PendingKind,
        encode: impl FnOnce(&mut String, &MessageId) -> Option<Text>,
    ) -> Result<Delivery, UsageError> {
        let Some(p) = self.take_pending(request, kind)? else {
            return Ok(Delivery::ConnectionGone);
        };
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let text = encode(&mut buf, &p.message_id);
        self.keep_scratch(buf);
        if let Some(text) = text {
            self.transmit(p.conn, text);
        }
        self.after_request_done(p.conn);
        Ok(Delivery::Queued)
    }

    /// A frame written by `write` into the reused scratch buffer, copied out at its
    /// exact size (one allocation; a `String` with spare room would cost `Bytes` a
    /// second one for its shared header).
    fn scratch_text(&mut self, write: impl FnOnce(&mut String)) -> Text {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        write(&mut buf);
        let text = Text::copied(&buf);
        self.keep_scratch(buf);
        text
    }

    /// Puts the scratch buffer back, unless one large frame made it large.
    fn keep_scratch(&mut self, buf: String) {
        if buf.capacity() <= MAX_SCRATCH_CAPACITY {
            self.scratch = buf;
        }
    }

    /// Removes an outstanding request of `kind` and releases its connection's slot;
    /// `Ok(None)` when its connection is gone.
    fn take_pending(
        &mut self,
        request: RequestId,
        kind: PendingKind,
    ) -> Result<Option<Pending>, UsageError> {
        let p = match self.pending.remove(&request) {
            Some(p) if p.kind == kind => p,
            Some(p) => {
                self.pending.insert(request, p);
                return Err(UsageError::UnknownRequest);
            }
            None => return Err(UsageError::UnknownRequest),
        };
        if p.kind == PendingKind::Action {
            self.pending_actions = self.pending_actions.saturating_sub(1);
        }
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
        key: Option<ActionKey>,
        started: Instant,
    ) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let kind = match key {
            Some(_) => PendingKind::Action,
            None => PendingKind::File,
        };
        if kind == PendingKind::Action {
            self.pending_actions += 1;
        }
        self.pending.insert(
            id,
            Pending {
                conn,
                message_id,
                kind,
                key,
                started,
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
            self.slow_consumer(conn);
            return;
        }
        c.queued += 1;
        self.out.push_back(Output::Transmit(Transmit {
            conn,
            frame: Frame::Text(text),
        }));
    }

    fn next_timer(&self) -> Option<(Instant, TimerKind)> {
        let hb = self.next_tick.map(|t| (t, TimerKind::Heartbeat));
        let sd = self
            .shutdown
            .and_then(|s| s.deadline)
            .map(|t| (t, TimerKind::ShutdownGrace));
        let first = match (hb, sd) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        let Some(shared) = &self.shared else {
            return first;
        };
        let waiting = shared.next_deadline();
        match (first, waiting) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// Ping interval of the default configuration, for adapters that serve `/primus/spec`.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_millis(30_000);
