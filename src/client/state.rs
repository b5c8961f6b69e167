//! The client's one state enum and every transition (h11's rule 1: all that affects
//! transitions lives in this file).
//!
//! ```mermaid
//! stateDiagram-v2
//!     [*] --> Idle
//!     Idle --> Connecting: connect()
//!     Closed --> Connecting: connect()
//!     Connecting --> Configuring: handle_opened (same attempt)
//!     Connecting --> Backoff: open failed / closed / Connect timer
//!     Configuring --> Connected: every roomAdd answered, then detailsView answered
//!     Configuring --> Backoff: closed / Connect timer / Heartbeat timer / detailsView error
//!     Connected --> Backoff: closed / Heartbeat timer
//!     Backoff --> Connecting: Reconnect timer
//!     Connecting --> Closed: retries exhausted / disconnect() / first attempt failed (no retry_first_connect)
//!     Configuring --> Closed: retries exhausted / disconnect() / closed after primus::server::close / first attempt failed (no retry_first_connect)
//!     Connected --> Closed: retries exhausted / disconnect() / closed after primus::server::close
//!     Backoff --> Closed: disconnect()
//!     Idle --> Closed: disconnect()
//! ```
//!
//! Timers (one table, [`super::timer`]): `Connect` runs from the start of an attempt
//! until the connection is configured (`connect_timeout` for the first attempt of a
//! run, `reconnect.attempt_timeout` for retries); `Heartbeat` runs while a socket is
//! open and is re-armed by every ping; `Reconnect` runs in `Backoff`. Request deadlines
//! are held by the request table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Map, Value};

use super::backoff::{Recovery, Schedule};
use super::requests::{Effect, Entry};
use super::timer::TimerKind;
use super::{
    Client, ClientEvent, ClientOutput, ClientState, CloseCause, DisconnectReason, LostReason,
    OpenFailure, RequestFailure, Violation,
};
use crate::error::UsageError;
use crate::frame::{Frame, Text};
use crate::ids::{AttemptId, ConnectionId, Fingerprint, MessageId, RoomName};
use crate::time;
use crate::wire::reply::{self, ServerFrame};
use crate::wire::request::{encode, encode_pong, ClientRequest};

/// Actionhero's default error texts the client reacts to (`config/errors.ts`).
const ALREADY_IN_ROOM: &str = "connection already in this room";
const NOT_IN_ROOM: &str = "connection not in this room";
const ROOM_DOES_NOT_EXIST: &str = "room does not exist";

/// The close frame the client sends: no status code, as Primus's `end()` does.
const CLOSE: Frame = Frame::Close {
    code: None,
    reason: "",
};

/// The client's state; every variant carries its own data.
#[derive(Clone, Debug)]
pub(super) enum State {
    /// Created; `connect()` not called yet.
    Idle,
    /// Waiting for the socket of `attempt` to open.
    Connecting { attempt: AttemptId },
    /// Socket open: rejoining rooms, then `detailsView`.
    Configuring {
        attempt: AttemptId,
        /// Callback key → room of every rejoin `roomAdd` not answered yet.
        joins: BTreeMap<String, RoomName>,
        /// Rooms whose rejoin failed but that stay remembered.
        failed: BTreeSet<RoomName>,
        /// The key of the `detailsView`, once sent (after the last join answer).
        details: Option<String>,
        /// `primus::server::close` arrived: the next close is final.
        server_closing: bool,
    },
    /// Configured; commands go out at once.
    Connected {
        attempt: AttemptId,
        id: ConnectionId,
        fingerprint: Fingerprint,
        server_closing: bool,
    },
    /// Waiting for the Reconnect timer.
    Backoff { until: Instant },
    /// Stopped for good.
    Closed { reason: DisconnectReason },
}

impl State {
    /// Every variant's diagram name (exhaustive, so a new variant must be named).
    #[cfg(test)]
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connecting { .. } => "Connecting",
            Self::Configuring { .. } => "Configuring",
            Self::Connected { .. } => "Connected",
            Self::Backoff { .. } => "Backoff",
            Self::Closed { .. } => "Closed",
        }
    }

    /// The attempt whose socket exists (opening or open).
    fn attempt(&self) -> Option<AttemptId> {
        match self {
            Self::Connecting { attempt }
            | Self::Configuring { attempt, .. }
            | Self::Connected { attempt, .. } => Some(*attempt),
            Self::Idle | Self::Backoff { .. } | Self::Closed { .. } => None,
        }
    }

    /// True when the socket of `attempt` is the current open one.
    fn is_open(&self, attempt: AttemptId) -> bool {
        match self {
            Self::Configuring { attempt: a, .. } | Self::Connected { attempt: a, .. } => {
                *a == attempt
            }
            Self::Idle | Self::Connecting { .. } | Self::Backoff { .. } | Self::Closed { .. } => {
                false
            }
        }
    }

    fn server_closing(&self) -> bool {
        match self {
            Self::Configuring { server_closing, .. } | Self::Connected { server_closing, .. } => {
                *server_closing
            }
            Self::Idle | Self::Connecting { .. } | Self::Backoff { .. } | Self::Closed { .. } => {
                false
            }
        }
    }

    /// True when `key` names one of configure's own requests.
    fn configure_has_key(&self, key: &str) -> bool {
        match self {
            Self::Configuring { joins, details, .. } => {
                joins.contains_key(key) || details.as_deref() == Some(key)
            }
            Self::Idle
            | Self::Connecting { .. }
            | Self::Connected { .. }
            | Self::Backoff { .. }
            | Self::Closed { .. } => false,
        }
    }

    pub(super) fn view(&self, recovery: &Recovery) -> ClientState {
        match self {
            Self::Idle => ClientState::Idle,
            Self::Connecting { attempt } => ClientState::Connecting { attempt: *attempt },
            Self::Configuring { attempt, .. } => ClientState::Configuring { attempt: *attempt },
            Self::Connected {
                id, fingerprint, ..
            } => ClientState::Connected {
                id: id.clone(),
                fingerprint: fingerprint.clone(),
            },
            Self::Backoff { until } => ClientState::Backoff {
                retry: recovery.attempt(),
                until: *until,
            },
            Self::Closed { reason } => ClientState::Closed {
                reason: reason.clone(),
            },
        }
    }
}

impl Client {
    // ---- time --------------------------------------------------------------------------

    /// Moves time to `max(now, last_now)` and fires everything due; returns that time.
    pub(super) fn advance(&mut self, now: Instant) -> Instant {
        let now = self.clock.advance(now);
        // Fire everything due, earliest first. Every timer set while firing lies
        // strictly after `now` (all durations are validated positive), so this ends.
        loop {
            let request = self.requests.next_deadline().filter(|at| *at <= now);
            let timer = self.timers.next().filter(|(at, _)| *at <= now);
            match (request, timer) {
                (Some(r), Some((t, kind))) if t < r => self.fire(kind, now),
                (Some(_), _) => {
                    if let Some(entry) = self.requests.pop_expired(now) {
                        self.fail(entry, RequestFailure::TimedOut);
                    }
                }
                (None, Some((_, kind))) => self.fire(kind, now),
                (None, None) => break,
            }
        }
        now
    }

    fn fire(&mut self, kind: TimerKind, now: Instant) {
        self.timers.clear(kind);
        match (kind, &self.state) {
            (TimerKind::Connect, State::Connecting { .. } | State::Configuring { .. }) => {
                self.lose(LostReason::ConnectTimeout, true, now);
            }
            (TimerKind::Heartbeat, State::Configuring { .. } | State::Connected { .. }) => {
                self.lose(LostReason::PingTimeout, true, now);
            }
            (TimerKind::Reconnect, State::Backoff { .. }) => self.start_attempt(now),
            // A timer that outlived its state (cleared timers never fire, so this is
            // defensive) or a request deadline (not in the table).
            (TimerKind::Connect | TimerKind::Heartbeat | TimerKind::Reconnect, _)
            | (TimerKind::Request, _) => {}
        }
    }

    // ---- lifecycle -----------------------------------------------------------------------

    pub(super) fn on_connect(&mut self, now: Instant) {
        match self.state {
            State::Idle | State::Closed { .. } => {
                self.recovery.reset();
                self.start_attempt(now);
            }
            State::Connecting { .. }
            | State::Configuring { .. }
            | State::Connected { .. }
            | State::Backoff { .. } => {}
        }
    }

    pub(super) fn on_disconnect(&mut self, now: Instant) {
        match self.state {
            State::Closed { .. } => return,
            State::Connecting { .. } | State::Configuring { .. } | State::Connected { .. } => {
                self.out.push_back(ClientOutput::Close(CLOSE));
            }
            State::Idle | State::Backoff { .. } => {}
        }
        self.finish(DisconnectReason::Local, now);
    }

    fn start_attempt(&mut self, now: Instant) {
        self.next_attempt += 1;
        let attempt = AttemptId(self.next_attempt);
        self.state = State::Connecting { attempt };
        let timeout = if self.recovery.is_recovering() {
            self.config.reconnect.attempt_timeout
        } else {
            self.config.connect_timeout
        };
        match self.open_output(attempt, now) {
            Ok(open) => {
                self.timers.set(TimerKind::Connect, time::add(now, timeout));
                self.out.push_back(open);
            }
            // The URL was validated in `new`, so this is defensive.
            Err(e) => self.lose(
                LostReason::OpenFailed(OpenFailure::Io(e.to_string())),
                false,
                now,
            ),
        }
    }

    pub(super) fn on_opened(&mut self, attempt: AttemptId, now: Instant) {
        match self.state {
            State::Connecting { attempt: a } if a == attempt => self.begin_configure(attempt, now),
            State::Idle
            | State::Connecting { .. }
            | State::Configuring { .. }
            | State::Connected { .. }
            | State::Backoff { .. }
            | State::Closed { .. } => {}
        }
    }

    pub(super) fn on_open_failed(&mut self, attempt: AttemptId, cause: OpenFailure, now: Instant) {
        match self.state {
            State::Connecting { attempt: a } if a == attempt => {
                self.lose(LostReason::OpenFailed(cause), false, now);
            }
            State::Idle
            | State::Connecting { .. }
            | State::Configuring { .. }
            | State::Connected { .. }
            | State::Backoff { .. }
            | State::Closed { .. } => {}
        }
    }

    pub(super) fn on_closed(&mut self, attempt: AttemptId, cause: CloseCause, now: Instant) {
        if self.state.attempt() == Some(attempt) {
            self.lose(LostReason::Closed(cause), false, now);
        }
    }

    /// The current socket is gone (or abandoned, with `close_socket`): fail what was
    /// sent on it, then reconnect, or stop if the server said so.
    fn lose(&mut self, reason: LostReason, close_socket: bool, now: Instant) {
        if close_socket {
            self.out.push_back(ClientOutput::Close(CLOSE));
        }
        self.timers.clear(TimerKind::Connect);
        self.timers.clear(TimerKind::Heartbeat);
        if self.state.server_closing() {
            self.finish(DisconnectReason::ServerClosed, now);
            return;
        }
        // The first attempt of a run: no connection was configured since `connect()`.
        let first = !self.recovery.is_recovering()
            && matches!(
                self.state,
                State::Connecting { .. } | State::Configuring { .. }
            );
        self.event(ClientEvent::ConnectionLost {
            reason: reason.clone(),
        });
        for entry in self.requests.drain_sent() {
            self.fail(entry, RequestFailure::ConnectionLost);
        }
        if first && !self.config.retry_first_connect {
            self.finish(DisconnectReason::FirstConnectFailed(reason), now);
            return;
        }
        let rng = &mut self.rng;
        match self
            .recovery
            .schedule(&self.config.reconnect, || rng.unit_f64())
        {
            Schedule::Retry { attempt, delay } => {
                let until = time::add(now, delay);
                self.state = State::Backoff { until };
                self.timers.set(TimerKind::Reconnect, until);
                self.event(ClientEvent::Reconnecting {
                    attempt,
                    after: delay,
                });
            }
            Schedule::Exhausted { attempts } => {
                self.event(ClientEvent::ReconnectFailed { attempts });
                self.finish(DisconnectReason::RetriesExhausted { attempts }, now);
            }
        }
    }

    /// Stops for good; `Disconnected` is the last event.
    fn finish(&mut self, reason: DisconnectReason, _now: Instant) {
        self.timers.clear_all();
        for entry in self.requests.drain_all() {
            let why = if entry.sent {
                RequestFailure::ConnectionLost
            } else {
                RequestFailure::Closed
            };
            self.fail(entry, why);
        }
        self.recovery.reset();
        self.state = State::Closed {
            reason: reason.clone(),
        };
        self.event(ClientEvent::Disconnected { reason });
    }

    // ---- configure -------------------------------------------------------------------------

    /// Rejoins every remembered room; `detailsView` follows the last answer.
    fn begin_configure(&mut self, attempt: AttemptId, now: Instant) {
        if let Some(ping_timeout) = self.config.ping_timeout {
            self.timers
                .set(TimerKind::Heartbeat, time::add(now, ping_timeout));
        }
        let rooms: Vec<RoomName> = self.rooms.iter().cloned().collect();
        let mut joins = BTreeMap::new();
        for room in rooms {
            let message_id = self.alloc_id(&joins);
            joins.insert(message_id.callback_key(), room.clone());
            self.transmit(&ClientRequest::RoomAdd {
                room: room.as_str().to_owned(),
                message_id,
            });
        }
        let done = joins.is_empty();
        self.state = State::Configuring {
            attempt,
            joins,
            failed: BTreeSet::new(),
            details: None,
            server_closing: false,
        };
        if done {
            self.send_details();
        }
    }

    fn send_details(&mut self) {
        let message_id = self.alloc_id(&BTreeMap::new());
        let key = message_id.callback_key();
        self.transmit(&ClientRequest::DetailsView { message_id });
        if let State::Configuring { details, .. } = &mut self.state {
            *details = Some(key);
        }
    }

    fn on_rejoin_answer(&mut self, room: RoomName, body: &Map<String, Value>) {
        let mut rejoin_failed = None;
        match response_error(body) {
            None => {}
            Some(e) if e.contains(ALREADY_IN_ROOM) => {}
            Some(e) if e.contains(ROOM_DOES_NOT_EXIST) => {
                self.rooms.shift_remove(&room);
                self.event(ClientEvent::RoomDropped { room, error: e });
            }
            Some(e) => {
                rejoin_failed = Some(room.clone());
                self.event(ClientEvent::RoomRejoinFailed { room, error: e });
            }
        }
        let mut all_answered = false;
        if let State::Configuring { joins, failed, .. } = &mut self.state {
            if let Some(room) = rejoin_failed {
                failed.insert(room);
            }
            all_answered = joins.is_empty();
        }
        if all_answered {
            self.send_details();
        }
    }

    fn on_details_answer(&mut self, body: &Map<String, Value>, now: Instant) {
        if let Some(e) = response_error(body) {
            self.lose(LostReason::ConfigureFailed(e), true, now);
            return;
        }
        let data = body.get("data");
        let id = data
            .and_then(|d| d.get("id"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let Some(id) = id else {
            let why = "detailsView answer has no id".to_owned();
            self.lose(LostReason::ConfigureFailed(why), true, now);
            return;
        };
        let fingerprint = data
            .and_then(|d| d.get("fingerprint"))
            .and_then(Value::as_str)
            .unwrap_or(id);
        let (id, fingerprint) = (ConnectionId::from(id), Fingerprint::from(fingerprint));
        self.configured(id, fingerprint);
    }

    fn configured(&mut self, id: ConnectionId, fingerprint: Fingerprint) {
        let State::Configuring {
            attempt,
            failed,
            server_closing,
            ..
        } = &self.state
        else {
            return;
        };
        let rooms = self
            .rooms
            .iter()
            .filter(|r| !failed.contains(*r))
            .cloned()
            .collect();
        self.state = State::Connected {
            attempt: *attempt,
            id: id.clone(),
            fingerprint: fingerprint.clone(),
            server_closing: *server_closing,
        };
        self.timers.clear(TimerKind::Connect);
        self.recovery.reset();
        self.event(ClientEvent::Connected {
            id,
            fingerprint,
            rooms,
        });
        for request in self.requests.send_queued() {
            self.transmit(&request);
        }
    }

    // ---- inbound messages --------------------------------------------------------------------

    pub(super) fn on_text(&mut self, attempt: AttemptId, text: &str, now: Instant) {
        if !self.state.is_open(attempt) {
            return;
        }
        if text.len() > self.config.max_message_len {
            self.violation(Violation::MessageTooLarge {
                len: text.len(),
                max: self.config.max_message_len,
            });
            return;
        }
        match reply::decode(text) {
            Ok(frame) => self.on_frame(frame, now),
            Err(e) => self.violation(Violation::InvalidJson(e)),
        }
    }

    pub(super) fn on_binary(&mut self, attempt: AttemptId, len: usize, _now: Instant) {
        if self.state.is_open(attempt) {
            self.violation(Violation::Binary { len });
        }
    }

    fn on_frame(&mut self, frame: ServerFrame, now: Instant) {
        match frame {
            ServerFrame::Ping(value) => {
                self.out
                    .push_back(ClientOutput::Transmit(Frame::Text(Text::from(
                        encode_pong(&value),
                    ))));
                if let Some(ping_timeout) = self.config.ping_timeout {
                    self.timers
                        .set(TimerKind::Heartbeat, time::add(now, ping_timeout));
                }
            }
            ServerFrame::ServerClose => match &mut self.state {
                State::Configuring { server_closing, .. }
                | State::Connected { server_closing, .. } => *server_closing = true,
                State::Idle
                | State::Connecting { .. }
                | State::Backoff { .. }
                | State::Closed { .. } => {}
            },
            ServerFrame::Response { message_id, body } => self.on_response(message_id, body, now),
            ServerFrame::Say(body) => {
                let event = say_event(body);
                self.event(event);
            }
            ServerFrame::Alert(body) => self.event(ClientEvent::Alert(Value::Object(body))),
            ServerFrame::Welcome(text) => self.event(ClientEvent::Welcome(text)),
            ServerFrame::Api(body) => self.event(ClientEvent::Api(Value::Object(body))),
            ServerFrame::Id(id) => {
                let token = format!("{}id::{id}", crate::wire::primus::PREFIX);
                self.event(ClientEvent::Message(Value::String(token)));
            }
            ServerFrame::Other(value) => self.event(ClientEvent::Message(value)),
        }
    }

    fn on_response(
        &mut self,
        message_id: Option<MessageId>,
        body: Map<String, Value>,
        now: Instant,
    ) {
        // A response that answers no outstanding request is a push, as
        // ActionheroWebsocketClient sees it: it emits `message` for every frame and finds
        // no callback for this one (docs/protocol.md#routing-server-frames).
        let Some(message_id) = message_id else {
            self.event(ClientEvent::Message(Value::Object(body)));
            return;
        };
        let key = message_id.callback_key();
        if let State::Configuring { joins, details, .. } = &mut self.state {
            if let Some(room) = joins.remove(&key) {
                self.on_rejoin_answer(room, &body);
                return;
            }
            if details.as_deref() == Some(key.as_str()) {
                *details = None;
                self.on_details_answer(&body, now);
                return;
            }
        }
        let Some(entry) = self.requests.take_sent(&key) else {
            self.event(ClientEvent::Message(Value::Object(body)));
            return;
        };
        self.apply_effect(&entry.effect, &body);
        self.event(ClientEvent::Response {
            id: entry.id,
            body: Value::Object(body),
        });
    }

    fn apply_effect(&mut self, effect: &Effect, body: &Map<String, Value>) {
        let error = response_error(body);
        match effect {
            Effect::None => {}
            Effect::RoomAdd(room) => {
                let joined = match error.as_deref() {
                    None => true,
                    Some(e) => e.contains(ALREADY_IN_ROOM),
                };
                if joined {
                    self.rooms.insert(room.clone());
                }
            }
            Effect::RoomLeave(room) => {
                let gone = match error.as_deref() {
                    None => true,
                    Some(e) => e.contains(NOT_IN_ROOM) || e.contains(ROOM_DOES_NOT_EXIST),
                };
                if gone {
                    self.rooms.shift_remove(room);
                }
            }
        }
    }

    // ---- application commands ------------------------------------------------------------------

    /// Issues one application request: checks every limit first (so `Err` changes
    /// nothing but the timers due at `now`), then sends it or queues it.
    pub(super) fn submit(
        &mut self,
        explicit: Option<MessageId>,
        effect: Effect,
        now: Instant,
        build: impl FnOnce(MessageId) -> ClientRequest,
    ) -> Result<MessageId, UsageError> {
        let now = self.advance(now);
        let online = match self.state {
            State::Closed { .. } => return Err(UsageError::Closed),
            State::Connected { .. } => true,
            State::Idle
            | State::Connecting { .. }
            | State::Configuring { .. }
            | State::Backoff { .. } => false,
        };
        let mut evict = false;
        if !online && self.requests.queued_len() >= self.config.max_offline_queue {
            match self.config.queue_policy {
                super::QueuePolicy::DropOldest if self.config.max_offline_queue > 0 => {
                    evict = true;
                }
                super::QueuePolicy::DropOldest | super::QueuePolicy::RejectNew => {
                    return Err(UsageError::QueueFull)
                }
            }
        }
        if self.requests.len() - usize::from(evict) >= self.config.max_pending_requests {
            return Err(UsageError::TooManyPending);
        }
        if let Some(id) = &explicit {
            let key = id.callback_key();
            if self.requests.contains_key(&key) || self.state.configure_has_key(&key) {
                return Err(UsageError::DuplicateMessageId);
            }
        }

        let message_id = match explicit {
            Some(id) => {
                // The real client advances its counter even when the id is overridden.
                self.message_counter = self.message_counter.wrapping_add(1);
                id
            }
            None => self.alloc_id(&BTreeMap::new()),
        };
        if evict {
            if let Some(oldest) = self.requests.pop_oldest_queued() {
                self.fail(oldest, RequestFailure::Dropped);
            }
        }
        let request = build(message_id.clone());
        if online {
            self.transmit(&request);
        }
        self.requests.insert(Entry {
            id: message_id.clone(),
            deadline: time::add(now, self.config.request_timeout),
            request,
            effect,
            sent: online,
        });
        Ok(message_id)
    }

    /// The next number of the client's counter whose key is free (a user-chosen
    /// `params.messageId` may already use it).
    fn alloc_id(&mut self, also_taken: &BTreeMap<String, RoomName>) -> MessageId {
        loop {
            self.message_counter = self.message_counter.wrapping_add(1);
            if self.message_counter == 0 {
                // 0 is falsy: the server would replace it with a uuid.
                continue;
            }
            let key = self.message_counter.to_string();
            if !self.requests.contains_key(&key)
                && !also_taken.contains_key(&key)
                && !self.state.configure_has_key(&key)
            {
                return MessageId::Number(self.message_counter);
            }
        }
    }

    // ---- output helpers --------------------------------------------------------------------------

    fn transmit(&mut self, request: &ClientRequest) {
        self.out
            .push_back(ClientOutput::Transmit(Frame::Text(Text::from(encode(
                request,
            )))));
    }

    fn event(&mut self, event: ClientEvent) {
        self.out.push_back(ClientOutput::Event(event));
    }

    fn violation(&mut self, violation: Violation) {
        self.event(ClientEvent::ProtocolViolation { violation });
    }

    fn fail(&mut self, entry: Entry, reason: RequestFailure) {
        self.event(ClientEvent::RequestFailed {
            id: entry.id,
            reason,
        });
    }
}

/// The error text of a response, if it failed (see [`super::response_error`]).
fn response_error(body: &Map<String, Value>) -> Option<String> {
    super::error_of(body.get("error"))
}

/// A `context: "user"` frame as a [`ClientEvent::Say`], or a violation when it lacks a
/// usable `room`, `from` or `sentAt`.
fn say_event(body: Map<String, Value>) -> ClientEvent {
    let room = body
        .get("room")
        .and_then(Value::as_str)
        .and_then(|r| RoomName::new(r).ok());
    let from = match body.get("from") {
        Some(Value::String(s)) => Some(ConnectionId::from(s.as_str())),
        Some(Value::Number(n)) => Some(ConnectionId::from(n.to_string())),
        Some(_) | None => None,
    };
    let sent_at_ms = body.get("sentAt").and_then(|v| {
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                // Saturating float-to-int cast of a finite, non-negative value.
                .map(|f| f as u64)
        })
    });
    match (room, from, sent_at_ms) {
        (Some(room), Some(from), Some(sent_at_ms)) => ClientEvent::Say {
            room,
            from,
            message: body.get("message").cloned().unwrap_or(Value::Null),
            sent_at_ms,
            body: Value::Object(body),
        },
        _ => ClientEvent::ProtocolViolation {
            violation: Violation::MalformedSay {
                body: Value::Object(body),
            },
        },
    }
}
