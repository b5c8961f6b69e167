//! What the server counts: plain numbers, bumped where the server decides something
//! (a connection opened or ended, a message read or queued, an action answered or
//! refused), read by the adapter with [`Server::stats`]. No clock is read: an action's
//! latency is the distance between the `now` its request came in with and the `now` of
//! its answer. [`crate::metrics`] renders them for Prometheus.

use std::collections::BTreeMap;
use std::time::Duration;

use super::action::{ActionKey, Refusal};
use super::types::{ActionOutcome, DisconnectReason, OpenRejected, Violation};
#[cfg(doc)]
use super::Server;
use crate::frame::{CloseCause, Frame};

/// Upper bounds, in microseconds, of the action latency histogram's buckets (1 ms to
/// 10 s, Prometheus's default bounds); a last, unbounded bucket takes the rest.
pub const LATENCY_BUCKETS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The `action` label of requests that named no registered action.
pub const UNKNOWN_ACTION: &str = "(unknown)";

/// A latency histogram over [`LATENCY_BUCKETS_US`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is the unbounded bucket.
    buckets: [u64; LATENCY_BUCKETS_US.len() + 1],
    /// Sum of every observation, in microseconds.
    sum_us: u64,
}

impl Histogram {
    /// Records one observation.
    pub(crate) fn observe(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US.partition_point(|&b| b < us);
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// Adds `other`'s observations.
    fn merge(&mut self, other: &Self) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of every observation.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us)
    }

    /// Cumulative counts per bucket: `(upper bound in µs, observations ≤ it)`, ending
    /// with `(None, count)` for the unbounded bucket (Prometheus's `le="+Inf"`).
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<u64>, u64)> + '_ {
        let bounds = LATENCY_BUCKETS_US.iter().map(|&b| Some(b)).chain([None]);
        let mut total = 0;
        bounds.zip(self.buckets).map(move |(bound, n)| {
            total += n;
            (bound, total)
        })
    }
}

/// One action's counts (all its versions together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionStats {
    /// Answered or refused requests by outcome (every outcome present, zero or not):
    /// `ok`, `error`, `no_response` (the application answered) and the refusals
    /// `too_many_pending`, `shutting_down`, `unknown_action`, `unsupported`,
    /// `invalid_params` (the server answered without running it). The core never times
    /// an action out, so there is no timeout outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Time from the request's arrival to the application's answer, for the requests the
    /// application answered.
    pub latency: Histogram,
}

/// A snapshot of the server's counters ([`Server::stats`]). Counters only grow; the
/// fields documented as gauges are the state at the snapshot. The maps by label hold
/// every label, zero or not, and every registered action.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Gauge: open connections.
    pub connections_open: u64,
    /// Connections accepted by `handle_open`.
    pub connections_opened: u64,
    /// Connections refused by `handle_open`, by reason (see [`OpenRejected::label`]).
    pub connections_rejected: BTreeMap<&'static str, u64>,
    /// Connections ended, by cause (see [`DisconnectReason::label`]).
    pub connections_closed: BTreeMap<&'static str, u64>,
    /// WebSocket messages read (text and binary).
    pub messages_received: u64,
    /// Bytes of the messages read.
    pub bytes_received: u64,
    /// Text messages handed to the adapter to write (replies, pushes, chat, pings).
    pub messages_sent: u64,
    /// Bytes of the text messages handed to the adapter.
    pub bytes_sent: u64,
    /// Protocol violations reported, by kind (see [`Violation::label`]).
    pub violations: BTreeMap<&'static str, u64>,
    /// Action requests (WebSocket and `/api`), by action name ([`UNKNOWN_ACTION`] for
    /// names nobody registered).
    pub actions: BTreeMap<String, ActionStats>,
    /// Gauge: action requests handed to the application and not answered yet.
    pub actions_running: u64,
    /// `file` requests answered, by outcome (`found`, `not_found`).
    pub files: BTreeMap<&'static str, u64>,
    /// Chat messages published to a room (`say`, broadcasts, room-deleted notices).
    pub chat_messages: u64,
    /// Chat messages delivered: one per receiving member.
    pub chat_deliveries: u64,
    /// Gauge: rooms.
    pub rooms: u64,
}

impl ServerStats {
    /// Adds the counts of `other` (another core of the same server, for a server that
    /// runs several: counters and the open-connection and running-action gauges add up;
    /// `rooms` is the larger of the two, since cores sharing rooms each count the rooms
    /// they have members in).
    pub fn merge(&mut self, other: &ServerStats) {
        fn add<K: Ord + Clone>(a: &mut BTreeMap<K, u64>, b: &BTreeMap<K, u64>) {
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
            }
        }
        self.connections_open += other.connections_open;
        self.connections_opened += other.connections_opened;
        add(&mut self.connections_rejected, &other.connections_rejected);
        add(&mut self.connections_closed, &other.connections_closed);
        self.messages_received += other.messages_received;
        self.bytes_received += other.bytes_received;
        self.messages_sent += other.messages_sent;
        self.bytes_sent += other.bytes_sent;
        add(&mut self.violations, &other.violations);
        for (name, b) in &other.actions {
            let a = self.actions.entry(name.clone()).or_default();
            add(&mut a.outcomes, &b.outcomes);
            a.latency.merge(&b.latency);
        }
        self.actions_running += other.actions_running;
        add(&mut self.files, &other.files);
        self.chat_messages += other.chat_messages;
        self.chat_deliveries += other.chat_deliveries;
        self.rooms = self.rooms.max(other.rooms);
    }
}

/// Why an action request ended, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ActionResult {
    Ok,
    Error,
    NoResponse,
    TooManyPending,
    ShuttingDown,
    Unknown,
    Unsupported,
    InvalidParams,
}

impl ActionResult {
    const LABELS: [&'static str; 8] = [
        "ok",
        "error",
        "no_response",
        "too_many_pending",
        "shutting_down",
        "unknown_action",
        "unsupported",
        "invalid_params",
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub(super) fn of_outcome(outcome: &ActionOutcome) -> Self {
        match outcome {
            ActionOutcome::Ok(_) => Self::Ok,
            ActionOutcome::Err { .. } => Self::Error,
            ActionOutcome::NoResponse => Self::NoResponse,
        }
    }

    pub(super) fn of_refusal(refusal: &Refusal) -> Self {
        match refusal {
            Refusal::ShuttingDown => Self::ShuttingDown,
            Refusal::TooManyPending => Self::TooManyPending,
            Refusal::Unknown => Self::Unknown,
            Refusal::Unsupported => Self::Unsupported,
            Refusal::Missing(_) | Refusal::Invalid(_) | Refusal::Threw(_) => Self::InvalidParams,
        }
    }
}

/// One action's counters, by outcome index.
#[derive(Clone, Debug, Default)]
struct ActionCounters {
    name: String,
    outcomes: [u64; ActionResult::LABELS.len()],
    latency: Histogram,
}

/// The server's counters (the mutable side of [`ServerStats`]).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) opened: u64,
    rejected: BTreeMap<&'static str, u64>,
    closed: BTreeMap<&'static str, u64>,
    pub(super) messages_in: u64,
    pub(super) bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
    violations: BTreeMap<&'static str, u64>,
    /// By [`ActionKey::index`].
    actions: Vec<ActionCounters>,
    /// Requests for no registered action.
    unknown: ActionCounters,
    files: BTreeMap<&'static str, u64>,
    pub(super) chat_messages: u64,
    pub(super) chat_deliveries: u64,
}

fn bump(map: &mut BTreeMap<&'static str, u64>, label: &'static str) {
    *map.entry(label).or_default() += 1;
}

/// Every [`DisconnectReason::label`].
const CLOSE_LABELS: [&str; 10] = [
    "remote_closed",
    "socket_error",
    "protocol_error",
    "message_too_large",
    "quit",
    "heartbeat_timeout",
    "destroyed",
    "slow_consumer",
    "too_many_violations",
    "shutdown",
];
/// Every [`OpenRejected::label`].
const REJECT_LABELS: [&str; 2] = ["too_many_connections", "shutting_down"];
/// Every [`Violation::label`].
const VIOLATION_LABELS: [&str; 3] = ["invalid_json", "binary", "message_too_large"];
/// Every file outcome.
const FILE_LABELS: [&str; 2] = ["found", "not_found"];

/// `counts` with a zero for every label of `all` it lacks, so that a snapshot names
/// every series from the start.
fn with_zeros(
    all: &[&'static str],
    counts: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    let mut out: BTreeMap<&'static str, u64> = all.iter().map(|&l| (l, 0)).collect();
    out.extend(counts);
    out
}

impl Counters {
    /// A version was registered under `key`.
    pub(super) fn action_registered(&mut self, key: ActionKey, name: &str) {
        let i = key.index();
        if self.actions.len() <= i {
            self.actions.resize_with(i + 1, ActionCounters::default);
        }
        if let Some(a) = self.actions.get_mut(i) {
            name.clone_into(&mut a.name);
        }
    }

    fn action_mut(&mut self, key: Option<ActionKey>) -> &mut ActionCounters {
        match key.and_then(|k| self.actions.get_mut(k.index())) {
            Some(a) => a,
            None => &mut self.unknown,
        }
    }

    /// An action request ended with `result`, `latency` after it came in (`None` for a
    /// refusal: the application never saw it).
    pub(super) fn action(
        &mut self,
        key: Option<ActionKey>,
        result: ActionResult,
        latency: Option<Duration>,
    ) {
        let a = self.action_mut(key);
        if let Some(n) = a.outcomes.get_mut(result.index()) {
            *n += 1;
        }
        if let Some(d) = latency {
            a.latency.observe(d);
        }
    }

    pub(super) fn rejected(&mut self, r: OpenRejected) {
        bump(&mut self.rejected, r.label());
    }

    pub(super) fn closed(&mut self, reason: &DisconnectReason) {
        bump(&mut self.closed, reason.label());
    }

    pub(super) fn violation(&mut self, v: &Violation) {
        bump(&mut self.violations, v.label());
    }

    pub(super) fn file(&mut self, found: bool) {
        bump(&mut self.files, if found { "found" } else { "not_found" });
    }

    /// A frame left through `poll_output`.
    pub(super) fn sent(&mut self, frame: &Frame) {
        if let Frame::Text(t) = frame {
            self.messages_out += 1;
            self.bytes_out += t.len() as u64;
        }
    }

    /// The snapshot, with the gauges the server measures now.
    pub(super) fn snapshot(&self, gauges: Gauges) -> ServerStats {
        let mut actions: BTreeMap<String, ActionStats> = BTreeMap::new();
        let named = self.actions.iter().filter(|a| !a.name.is_empty());
        let unknown = (self.unknown.outcomes.iter().any(|&n| n > 0)).then_some(&self.unknown);
        for a in named.chain(unknown) {
            let name = if a.name.is_empty() {
                UNKNOWN_ACTION
            } else {
                a.name.as_str()
            };
            let s = actions.entry(name.to_owned()).or_default();
            for (label, n) in ActionResult::LABELS.iter().zip(a.outcomes) {
                *s.outcomes.entry(label).or_default() += n;
            }
            s.latency.merge(&a.latency);
        }
        ServerStats {
            connections_open: gauges.connections_open,
            connections_opened: self.opened,
            connections_rejected: with_zeros(&REJECT_LABELS, &self.rejected),
            connections_closed: with_zeros(&CLOSE_LABELS, &self.closed),
            messages_received: self.messages_in,
            bytes_received: self.bytes_in,
            messages_sent: self.messages_out,
            bytes_sent: self.bytes_out,
            violations: with_zeros(&VIOLATION_LABELS, &self.violations),
            actions,
            actions_running: gauges.actions_running,
            files: with_zeros(&FILE_LABELS, &self.files),
            chat_messages: self.chat_messages,
            chat_deliveries: self.chat_deliveries,
            rooms: gauges.rooms,
        }
    }
}

/// The state [`Counters::snapshot`] reports beside the counters.
pub(super) struct Gauges {
    pub(super) connections_open: u64,
    pub(super) actions_running: u64,
    pub(super) rooms: u64,
}

impl DisconnectReason {
    /// A short name for this reason, as metrics label it: `remote_closed`,
    /// `socket_error`, `protocol_error`, `quit`, `heartbeat_timeout`, `destroyed`,
    /// `slow_consumer`, `too_many_violations`, `message_too_large`, `shutdown`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Socket(CloseCause::Remote { .. }) => "remote_closed",
            Self::Socket(CloseCause::Error(_)) => "socket_error",
            Self::Socket(CloseCause::Protocol(_) | CloseCause::InvalidUtf8) => "protocol_error",
            Self::Socket(CloseCause::MessageTooLarge) | Self::MessageTooLarge => {
                "message_too_large"
            }
            Self::Quit => "quit",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::Closed(super::CloseReason::Destroy) => "destroyed",
            Self::Closed(super::CloseReason::SlowConsumer) | Self::SlowConsumer => "slow_consumer",
            Self::TooManyViolations => "too_many_violations",
            Self::Shutdown => "shutdown",
        }
    }
}

impl OpenRejected {
    /// A short name for this refusal, as metrics label it: `too_many_connections`,
    /// `shutting_down`.
    pub fn label(self) -> &'static str {
        match self {
            Self::TooManyConnections => "too_many_connections",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

impl Violation {
    /// A short name for this kind of violation, as metrics label it: `invalid_json`,
    /// `binary`, `message_too_large`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::Binary { .. } => "binary",
            Self::MessageTooLarge { .. } => "message_too_large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_listed() {
        use crate::wire::WireError;
        let reasons = [
            DisconnectReason::Socket(CloseCause::Remote { code: None }),
            DisconnectReason::Socket(CloseCause::Error(String::new())),
            DisconnectReason::Socket(CloseCause::Protocol(String::new())),
            DisconnectReason::Socket(CloseCause::InvalidUtf8),
            DisconnectReason::Socket(CloseCause::MessageTooLarge),
            DisconnectReason::Quit,
            DisconnectReason::HeartbeatTimeout,
            DisconnectReason::Closed(super::super::CloseReason::Destroy),
            DisconnectReason::Closed(super::super::CloseReason::SlowConsumer),
            DisconnectReason::TooManyViolations,
            DisconnectReason::MessageTooLarge,
            DisconnectReason::SlowConsumer,
            DisconnectReason::Shutdown,
        ];
        let labels: std::collections::BTreeSet<&str> =
            reasons.iter().map(DisconnectReason::label).collect();
        assert_eq!(labels, CLOSE_LABELS.into_iter().collect());
        for r in [OpenRejected::TooManyConnections, OpenRejected::ShuttingDown] {
            assert!(REJECT_LABELS.contains(&r.label()));
        }
        let violations = [
            Violation::InvalidJson(WireError::InvalidJson { line: 1, column: 1 }),
            Violation::Binary { len: 1 },
            Violation::MessageTooLarge { len: 2, max: 1 },
        ];
        let labels: Vec<&str> = violations.iter().map(Violation::label).collect();
        assert_eq!(labels, VIOLATION_LABELS);
    }

    #[test]
    fn histogram_buckets_are_upper_bounds() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(1_000)); // exactly 1 ms: in the first bucket
        h.observe(Duration::from_micros(1_001));
        h.observe(Duration::from_secs(60));
        let c: Vec<(Option<u64>, u64)> = h.cumulative().collect();
        assert_eq!(c[0], (Some(1_000), 1));
        assert_eq!(c[1], (Some(2_500), 2));
        assert_eq!(c[12], (Some(10_000_000), 2));
        assert_eq!(c[13], (None, 3));
        assert_eq!(h.count(), 3);
        assert_eq!(h.sum(), Duration::from_micros(60_002_001));
    }
}
