//! The sans-IO Actionhero WebSocket client: ActionheroWebsocketClient over the Primus
//! client, as one deterministic state machine (docs/protocol.md#the-client).
//!
//! The adapter opens sockets, the [`Client`] decides everything else: when to connect
//! and reconnect (Primus's backoff), what to send after every open (rejoin rooms, then
//! `detailsView`), heartbeat answers, request ids and deadlines, and the offline queue.
//!
//! # Driving it
//!
//! Method groups, as in quinn's `Connection`:
//! * **inputs from the adapter**: [`handle_opened`](Client::handle_opened),
//!   [`handle_open_failed`](Client::handle_open_failed),
//!   [`handle_text`](Client::handle_text), [`handle_binary`](Client::handle_binary),
//!   [`handle_closed`](Client::handle_closed), [`handle_timeout`](Client::handle_timeout);
//! * **application commands**: [`connect`](Client::connect),
//!   [`disconnect`](Client::disconnect), [`action`](Client::action),
//!   [`say`](Client::say), [`room_add`](Client::room_add), … ;
//! * **drains**: [`poll_output`](Client::poll_output) and
//!   [`poll_timeout`](Client::poll_timeout);
//! * **getters**: [`state`](Client::state), [`rooms`](Client::rooms),
//!   [`timeout_reason`](Client::timeout_reason).
//!
//! Every input takes `now` last and first processes the timers due at `now`, exactly as
//! [`handle_timeout`](Client::handle_timeout) would. Inputs only enqueue output, so any
//! interleaving of inputs and drains is correct; after draining `poll_output`,
//! `poll_timeout` is `None` or later than the latest `now`.
//!
//! # Sockets and attempts
//!
//! There is at most one socket at a time. [`ClientOutput::Open`] starts attempt `a`;
//! every input about that socket carries `a`, and inputs naming an older attempt are
//! ignored (a late completion or close of an abandoned socket is a benign race).
//! [`ClientOutput::Close`] always refers to the socket of the latest `Open` and is
//! emitted before any later `Open`.
//!
//! # Delivery guarantee: at most once
//!
//! Each request issued by the application ends in exactly one
//! [`ClientEvent::Response`] or [`ClientEvent::RequestFailed`]. Nothing is re-sent
//! automatically: when a connection drops, every request already written to it fails
//! with [`RequestFailure::ConnectionLost`] (the server may or may not have run it).
//! Requests still in the offline queue stay queued and are sent after the next
//! successful configure, unless their deadline passes first.
//!
//! # Differences from the JavaScript client (its known faults, fixed)
//!
//! * Rooms are rejoined, and `id`/`fingerprint` refreshed, after **every** open, not only
//!   the first; [`ClientEvent::Connected`] is emitted each time.
//! * Queued commands are sent only after the rooms are rejoined, never over HTTP.
//! * Requests have deadlines, and fail when the connection drops; callbacks never leak.
//! * The offline queue and the number of outstanding requests are bounded.
//! * The backoff counter resets only once a connection is configured, so a server that
//!   accepts and drops at once cannot cause a tight reconnect loop.
//! * A configure or connect that stalls is abandoned and retried, within one deadline
//!   per attempt (`connect_timeout` for the first, `reconnect.attempt_timeout` after).

mod backoff;
mod config;
mod requests;
mod state;
mod timer;

/// The error text of a response body, if the request failed: Actionhero sets `error`
/// (a string for actions, `Error: …` for verbs) and the real client treats any truthy
/// `error` as a failure. `None` for a success.
pub fn response_error(body: &Value) -> Option<String> {
    error_of(body.get("error"))
}

/// Why a request did not produce a successful response, as the adapters' request APIs
/// report it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RequestError {
    /// The server answered with an error (`error` set and truthy, as Actionhero's client
    /// reads it): its text and the whole response.
    Response {
        /// The error text.
        error: String,
        /// The whole response object.
        body: Value,
    },
    /// The request ended without a response (timed out, connection lost, dropped from
    /// the offline queue, client closed).
    Failed(RequestFailure),
    /// The core refused to issue it (client closed, queue full, too many pending).
    Refused(crate::error::UsageError),
    /// The room name is empty or too long.
    InvalidRoomName,
    /// The client (its task or thread) has stopped.
    Stopped,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Response { error, .. } => f.write_str(error),
            Self::Failed(r) => write!(f, "request failed: {r:?}"),
            Self::Refused(e) => write!(f, "request refused: {e}"),
            Self::InvalidRoomName => f.write_str("invalid room name"),
            Self::Stopped => f.write_str("the client has stopped"),
        }
    }
}

impl std::error::Error for RequestError {}

/// A response body as the outcome of its request: `Err(RequestError::Response)` when
/// [`response_error`] finds an error in it, else the body.
///
/// # Errors
/// [`RequestError::Response`] for an error response.
pub fn request_result(body: Value) -> Result<Value, RequestError> {
    match response_error(&body) {
        Some(error) => Err(RequestError::Response { error, body }),
        None => Ok(body),
    }
}

fn error_of(error: Option<&Value>) -> Option<String> {
    error
        .filter(|e| crate::wire::js::truthy(e))
        .map(crate::wire::js::js_string)
}

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use indexmap::IndexSet;
use serde_json::{Map, Value};

pub use crate::frame::CloseCause;
pub use config::{ClientConfig, QueuePolicy, ReconnectConfig};
pub use timer::TimerKind;

use crate::error::{ConfigError, UsageError};
use crate::frame::Frame;
use crate::handshake::{self, UrlError};
use crate::ids::{AttemptId, ConnectionId, Fingerprint, MessageId, RoomName};
use crate::time::{Clock, Rng};
use crate::wire::{ClientRequest, WireError};
use backoff::Recovery;
use requests::{Effect, Requests};
use state::State;
use timer::Timers;

/// The sans-IO Actionhero WebSocket client.
///
/// See the [module docs](self) for how to drive it.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    /// The URL's scheme needs TLS (`https:`/`wss:`), as parsed once by `new`.
    tls: bool,
    clock: Clock,
    rng: Rng,
    state: State,
    recovery: Recovery,
    timers: Timers,
    requests: Requests,
    /// The rooms the application has joined, in join order: rejoined after every open.
    rooms: IndexSet<RoomName>,
    out: VecDeque<ClientOutput>,
    next_attempt: u64,
    /// ActionheroWebsocketClient's `messageId` counter: incremented by every request.
    message_counter: u64,
    /// Primus's `yeast` state: the last cache-buster millisecond and its counter.
    yeast_ms: Option<u64>,
    yeast_counter: u32,
}

/// Something the adapter must do, drained with [`Client::poll_output`].
#[must_use]
#[derive(Clone, Debug, PartialEq)]
pub enum ClientOutput {
    /// Open a socket for attempt `attempt`: connect TCP (and TLS when
    /// `upgrade.tls`) to `upgrade.host:upgrade.port`, write `upgrade.request`, read the
    /// response until [`handshake::parse_response`] with `upgrade.expected_accept`
    /// says it is complete, then report [`Client::handle_opened`] or
    /// [`Client::handle_open_failed`]. Any earlier socket has already been closed by a
    /// [`ClientOutput::Close`].
    Open {
        /// Tag for every later input about this socket.
        attempt: AttemptId,
        /// Where to connect and what to send: the full `ws://`/`wss://` URL (with
        /// `?<cookie_key>=<fingerprint>` and Primus's `_primuscb` cache buster), host,
        /// port, TLS, the upgrade request bytes and the expected accept value.
        upgrade: handshake::ClientUpgrade,
    },
    /// Write this frame to the current socket.
    Transmit(Frame),
    /// Send this close frame on the current socket (or abort its opening) and drop it.
    /// No input is expected for that socket afterwards; one that still arrives is
    /// ignored.
    Close(Frame),
    /// Hand this event to the application.
    Event(ClientEvent),
}

/// What the client tells the application.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connection is ready: rooms were rejoined and `detailsView` answered. Emitted
    /// after every successful (re)connect. Queued commands are sent right after it.
    Connected {
        /// This connection's id on the server (a new one on every connect).
        id: ConnectionId,
        /// The session fingerprint the server reports.
        fingerprint: Fingerprint,
        /// The rooms the client is in (the remembered set after the rejoin).
        rooms: Vec<RoomName>,
    },
    /// The server's welcome text (`{"welcome":…,"context":"api"}`).
    Welcome(String),
    /// The answer to request `id`: the whole response object. For verbs it carries
    /// `status`; failures carry `error` (docs/protocol.md#verb-answers, #action-response).
    Response {
        /// The request.
        id: MessageId,
        /// The response object as received.
        body: Value,
    },
    /// Request `id` ended without a response.
    RequestFailed {
        /// The request.
        id: MessageId,
        /// Why.
        reason: RequestFailure,
    },
    /// A chat message in a room the client is in (`context: "user"`); the client gets
    /// its own messages too.
    Say {
        /// The room.
        room: RoomName,
        /// The sender's connection id (`"0"` for server-side broadcasts).
        from: ConnectionId,
        /// The message.
        message: Value,
        /// The server's `sentAt`, epoch milliseconds.
        sent_at_ms: u64,
        /// The whole frame (say middleware may add fields).
        body: Value,
    },
    /// An alert pushed by the server (`context: "alert"`).
    Alert(Value),
    /// Any other `context: "api"` message.
    Api(Value),
    /// Anything else the server sent: a `context: "response"` object that answers no
    /// outstanding request (a push from the application, `Server::send` or Actionhero's
    /// `connection.sendMessage`, which the server stamps with the latest `messageId`, or
    /// an answer that came after its request timed out), other contexts, non-objects,
    /// unknown `primus::` strings, `primus::id::<id>`. ActionheroWebsocketClient emits
    /// these as `message` too.
    Message(Value),
    /// A remembered room could not be rejoined because it no longer exists; it was
    /// removed from the remembered set.
    RoomDropped {
        /// The room.
        room: RoomName,
        /// The server's error text.
        error: String,
    },
    /// Rejoining a remembered room failed for another reason (a join middleware
    /// refused, a cluster timeout…); the room stays remembered and is tried again on
    /// the next connect.
    RoomRejoinFailed {
        /// The room.
        room: RoomName,
        /// The server's error text.
        error: String,
    },
    /// The connection (or the attempt to open one) was lost; a reconnect follows
    /// unless the retries are exhausted.
    ConnectionLost {
        /// Why.
        reason: LostReason,
    },
    /// Reconnect attempt `attempt` (1-based) is scheduled `after` from now.
    Reconnecting {
        /// The retry number.
        attempt: u32,
        /// The backoff delay.
        after: Duration,
    },
    /// All `reconnect.retries` retries failed; [`ClientEvent::Disconnected`] follows.
    ReconnectFailed {
        /// Retries made.
        attempts: u32,
    },
    /// The client stopped for good; the last event until [`Client::connect`] is called
    /// again.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The server sent something the client could not use; it was dropped and the
    /// connection carries on.
    ProtocolViolation {
        /// What was wrong.
        violation: Violation,
    },
}

/// Why a request ended without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// No response within `request_timeout` of issuing it (queued time included).
    TimedOut,
    /// The connection it was sent on dropped first; it is not re-sent.
    ConnectionLost,
    /// It was evicted from the full offline queue ([`QueuePolicy::DropOldest`]).
    Dropped,
    /// The client stopped for good while it was still queued.
    Closed,
}

/// Why a connection or connect attempt was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostReason {
    /// The socket could not be opened.
    OpenFailed(OpenFailure),
    /// The attempt did not finish (open plus configure) within its timeout.
    ConnectTimeout,
    /// The socket closed.
    Closed(CloseCause),
    /// No ping within `ping_timeout`.
    PingTimeout,
    /// The server's answer to the configure `detailsView` was an error or had no id.
    ConfigureFailed(String),
}

/// Why the adapter could not open a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenFailure {
    /// TCP, DNS or TLS failed (the adapter's error text).
    Io(String),
    /// The server's HTTP answer was not a valid upgrade (the adapter's error text).
    Handshake(String),
}

/// Why the client stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The application called [`Client::disconnect`].
    Local,
    /// The server sent `primus::server::close` and closed the socket.
    ServerClosed,
    /// `reconnect.retries` retries failed.
    RetriesExhausted {
        /// Retries made.
        attempts: u32,
    },
    /// The first attempt after [`Client::connect`] failed and
    /// [`ClientConfig::retry_first_connect`] is off.
    FirstConnectFailed(LostReason),
}

/// Something the server sent that the client could not use.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Violation {
    /// Not JSON (Primus drops these too).
    InvalidJson(WireError),
    /// Longer than `max_message_len`.
    MessageTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A binary message (the JSON parser only takes text).
    Binary {
        /// Its length in bytes.
        len: usize,
    },
    /// A `context: "user"` message without a valid `room`, `from` or `sentAt`.
    MalformedSay {
        /// The message.
        body: Value,
    },
}

/// A read-only view of the client's state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientState {
    /// Created, [`Client::connect`] not called yet.
    Idle,
    /// Waiting for the socket of `attempt` to open.
    Connecting {
        /// The attempt.
        attempt: AttemptId,
    },
    /// Socket open; rejoining rooms and waiting for `detailsView`.
    Configuring {
        /// The attempt.
        attempt: AttemptId,
    },
    /// Ready: commands are sent at once.
    Connected {
        /// The connection id.
        id: ConnectionId,
        /// The fingerprint.
        fingerprint: Fingerprint,
    },
    /// Waiting before reconnect retry `retry`.
    Backoff {
        /// The retry that starts at `until`.
        retry: u32,
        /// When.
        until: Instant,
    },
    /// Stopped for good (until [`Client::connect`]).
    Closed {
        /// Why.
        reason: DisconnectReason,
    },
}

impl Client {
    /// Creates a client; nothing happens until [`Client::connect`].
    ///
    /// `seed` feeds every random choice (WebSocket keys, backoff jitter); `now` and
    /// `unix_now` anchor wall-clock time (Primus's cache buster).
    ///
    /// # Errors
    /// [`ConfigError`] when a config value is out of range or the URL cannot be
    /// connected to.
    pub fn new(
        config: ClientConfig,
        seed: [u8; 32],
        now: Instant,
        unix_now: SystemTime,
    ) -> Result<Client, ConfigError> {
        config.validate()?;
        let tls = handshake::client_upgrade(
            &config.url,
            &config.pathname,
            &config.cookie_key,
            config.fingerprint.as_ref().map(Fingerprint::as_str),
            [0; 16],
            "0",
        )
        .map_err(url_config_error)?
        .tls;
        let rooms = config.rooms.iter().cloned().collect();
        Ok(Client {
            config,
            tls,
            clock: Clock::new(now, unix_now),
            rng: Rng::new(seed),
            state: State::Idle,
            recovery: Recovery::default(),
            timers: Timers::default(),
            requests: Requests::default(),
            rooms,
            out: VecDeque::new(),
            next_attempt: 0,
            message_counter: 0,
            yeast_ms: None,
            yeast_counter: 0,
        })
    }

    // ---- lifecycle inputs ----------------------------------------------------------

    /// Starts connecting: emits [`ClientOutput::Open`] for a new attempt.
    ///
    /// Only acts when the client is idle or closed (a new run, starting with
    /// `connect_timeout` and a fresh backoff); otherwise it does nothing.
    pub fn connect(&mut self, now: Instant) {
        let now = self.advance(now);
        self.on_connect(now);
    }

    /// Stops for good: closes the socket if any, fails every outstanding request and
    /// emits [`ClientEvent::Disconnected`] with [`DisconnectReason::Local`]. No reconnect
    /// follows. Does nothing when already closed.
    pub fn disconnect(&mut self, now: Instant) {
        let now = self.advance(now);
        self.on_disconnect(now);
    }

    /// The socket of `attempt` opened (the upgrade succeeded). Starts configuring: the
    /// remembered rooms are rejoined, then `detailsView` is sent. Ignored for any
    /// attempt other than the current connecting one.
    pub fn handle_opened(&mut self, attempt: AttemptId, now: Instant) {
        let now = self.advance(now);
        self.on_opened(attempt, now);
    }

    /// The socket of `attempt` could not be opened; a reconnect is scheduled. Ignored
    /// for any attempt other than the current connecting one.
    pub fn handle_open_failed(&mut self, attempt: AttemptId, cause: OpenFailure, now: Instant) {
        let now = self.advance(now);
        self.on_open_failed(attempt, cause, now);
    }

    /// One complete text message from the socket of `attempt`. Ignored unless that
    /// socket is the current, open one.
    pub fn handle_text(&mut self, attempt: AttemptId, text: &str, now: Instant) {
        let now = self.advance(now);
        self.on_text(attempt, text, now);
    }

    /// A binary message from the socket of `attempt`: reported as a
    /// [`Violation::Binary`] and dropped.
    pub fn handle_binary(&mut self, attempt: AttemptId, data: &[u8], now: Instant) {
        let now = self.advance(now);
        self.on_binary(attempt, data.len(), now);
    }

    /// The socket of `attempt` is gone. Reconnects, unless the server sent
    /// `primus::server::close` first. Ignored for stale attempts; idempotent.
    pub fn handle_closed(&mut self, attempt: AttemptId, cause: CloseCause, now: Instant) {
        let now = self.advance(now);
        self.on_closed(attempt, cause, now);
    }

    /// Processes every timer due at `now`. Safe to call early or repeatedly.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    // ---- application commands --------------------------------------------------------

    /// Runs action `action` with `params` (`params.action` is set to `action`, in place
    /// if present). The id is `params.messageId` when that is truthy, as in the real
    /// client, else the next number of the client's counter (which every request
    /// advances).
    ///
    /// Sent at once when connected; otherwise queued (see [`ClientConfig::max_offline_queue`]).
    ///
    /// # Errors
    /// [`UsageError::Closed`] after a final disconnect; [`UsageError::QueueFull`] when
    /// offline with a full queue under [`QueuePolicy::RejectNew`] (or a zero capacity);
    /// [`UsageError::TooManyPending`] at `max_pending_requests`;
    /// [`UsageError::DuplicateMessageId`] when `params.messageId` names an outstanding
    /// request. On `Err` nothing was issued.
    pub fn action(
        &mut self,
        action: &str,
        mut params: Map<String, Value>,
        now: Instant,
    ) -> Result<MessageId, UsageError> {
        params.insert("action".into(), Value::String(action.into()));
        let explicit = params.get("messageId").and_then(MessageId::from_json);
        self.submit(explicit, Effect::None, now, |message_id| {
            ClientRequest::Action { params, message_id }
        })
    }

    /// Says `message` in `room` (the client must be in it; the server answers with an
    /// error otherwise).
    ///
    /// # Errors
    /// As [`Client::action`], without the duplicate-id case.
    pub fn say(
        &mut self,
        room: &RoomName,
        message: Value,
        now: Instant,
    ) -> Result<MessageId, UsageError> {
        let room = room.as_str().to_owned();
        self.submit(None, Effect::None, now, |message_id| ClientRequest::Say {
            room,
            message,
            message_id,
        })
    }

    /// Joins `room`. When the response is OK (or "already in this room"), the room is
    /// remembered and rejoined after every reconnect.
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn room_add(&mut self, room: RoomName, now: Instant) -> Result<MessageId, UsageError> {
        let name = room.as_str().to_owned();
        self.submit(None, Effect::RoomAdd(room), now, |message_id| {
            ClientRequest::RoomAdd {
                room: name,
                message_id,
            }
        })
    }

    /// Leaves `room`. When the response is OK (or says the client is not in it, or it
    /// does not exist), the room is forgotten.
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn room_leave(&mut self, room: &RoomName, now: Instant) -> Result<MessageId, UsageError> {
        let name = room.as_str().to_owned();
        self.submit(None, Effect::RoomLeave(room.clone()), now, |message_id| {
            ClientRequest::RoomLeave {
                room: name,
                message_id,
            }
        })
    }

    /// Asks for the members of `room`.
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn room_view(&mut self, room: &RoomName, now: Instant) -> Result<MessageId, UsageError> {
        let room = room.as_str().to_owned();
        self.submit(None, Effect::None, now, |message_id| {
            ClientRequest::RoomView { room, message_id }
        })
    }

    /// Asks for this connection's details (`id`, `fingerprint`, `rooms`, …).
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn details_view(&mut self, now: Instant) -> Result<MessageId, UsageError> {
        self.submit(None, Effect::None, now, |message_id| {
            ClientRequest::DetailsView { message_id }
        })
    }

    /// Asks for the documentation (Actionhero 29.3.5 always answers with an error).
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn documentation(&mut self, now: Instant) -> Result<MessageId, UsageError> {
        self.submit(None, Effect::None, now, |message_id| {
            ClientRequest::Documentation { message_id }
        })
    }

    /// Asks for the static file `path` (relative to the server's public directory).
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn file(&mut self, path: &str, now: Instant) -> Result<MessageId, UsageError> {
        let file = path.to_owned();
        self.submit(None, Effect::None, now, |message_id| ClientRequest::File {
            file,
            message_id,
        })
    }

    // ---- drains and getters ------------------------------------------------------------

    /// The next output, in causal order; `None` when drained. Call it after every input
    /// until it returns `None`.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// When [`Client::handle_timeout`] should be called next; `None` when no timer is
    /// armed. Changed by every input; read it after draining [`Client::poll_output`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(at, _)| at)
    }

    /// Which timer [`Client::poll_timeout`] is for.
    pub fn timeout_reason(&self) -> Option<TimerKind> {
        self.next_timer().map(|(_, kind)| kind)
    }

    /// Whether the configured URL needs TLS (`https:`/`wss:`), as [`Client::new`]
    /// parsed it: every [`ClientOutput::Open`] says so too. An adapter without TLS
    /// refuses such a client up front instead of failing every attempt.
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state.view(&self.recovery)
    }

    /// The remembered rooms, in join order: rejoined after every open.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.iter()
    }

    /// Requests issued and not yet ended (queued plus awaiting a response).
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// Requests waiting in the offline queue.
    pub fn queued_requests(&self) -> usize {
        self.requests.queued_len()
    }

    // ---- helpers -----------------------------------------------------------------------

    fn next_timer(&self) -> Option<(Instant, TimerKind)> {
        let table = self.timers.next();
        let request = self.requests.next_deadline();
        match (table, request) {
            (Some((at, kind)), Some(r)) if at <= r => Some((at, kind)),
            (_, Some(r)) => Some((r, TimerKind::Request)),
            (table, None) => table,
        }
    }

    /// Builds the `Open` output of a new attempt.
    fn open_output(&mut self, attempt: AttemptId, now: Instant) -> Result<ClientOutput, UrlError> {
        let epoch_ms = self.clock.epoch_ms(now);
        // Primus's yeast: a second cache buster in the same millisecond gets a counter.
        let counter = if self.yeast_ms == Some(epoch_ms) {
            let c = self.yeast_counter;
            self.yeast_counter = self.yeast_counter.saturating_add(1);
            Some(c)
        } else {
            self.yeast_ms = Some(epoch_ms);
            self.yeast_counter = 0;
            None
        };
        let cache_buster = handshake::yeast(epoch_ms, counter);
        let upgrade = handshake::client_upgrade(
            &self.config.url,
            &self.config.pathname,
            &self.config.cookie_key,
            self.config.fingerprint.as_ref().map(Fingerprint::as_str),
            self.rng.bytes16(),
            &cache_buster,
        )?;
        Ok(ClientOutput::Open { attempt, upgrade })
    }
}

fn url_config_error(e: UrlError) -> ConfigError {
    let field = if e == UrlError::InvalidPathname {
        "pathname"
    } else {
        "url"
    };
    let reason = match e {
        UrlError::Invalid => "not a valid absolute URL",
        UrlError::UnsupportedScheme => "URL scheme must be ws, wss, http or https",
        UrlError::MissingHost => "URL has no host",
        UrlError::InvalidHost => "URL host is invalid",
        UrlError::InvalidPort => "URL port must be a number in 1..=65535",
        UrlError::Credentials => "credentials in the URL are not supported",
        UrlError::InvalidPathname => "pathname holds characters not allowed in a URL path",
    };
    ConfigError::InvalidValue { field, reason }
}
