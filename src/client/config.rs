//! Client configuration: every limit and timing of the client, with documented
//! defaults taken from Primus 8 and ActionheroWebsocketClient (docs/protocol.md#limits).

use std::time::Duration;

use crate::error::ConfigError;
use crate::ids::{Fingerprint, RoomName};

/// Configuration of a [`Client`](super::Client).
///
/// Build it with [`ClientConfig::new`] (or `Default`) and adjust the public fields;
/// [`Client::new`](super::Client::new) validates it and returns
/// [`ConfigError`] for values out of range.
///
/// ```
/// use std::time::Duration;
/// use actionhero_ws::client::{ClientConfig, QueuePolicy};
///
/// let mut config = ClientConfig::new("http://127.0.0.1:8080");
/// config.ping_timeout = Some(Duration::from_secs(10));
/// config.queue_policy = QueuePolicy::RejectNew;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// The server's base URL (`http://`, `https://`, `ws://` or `wss://`). Default
    /// `http://127.0.0.1:8080` (Actionhero's default web port).
    pub url: String,
    /// The Primus path the upgrade request goes to. Default `/primus`.
    pub pathname: String,
    /// The query parameter that carries the fingerprint. Default `sessionID`
    /// (Actionhero's `fingerprintOptions.cookieKey`).
    pub cookie_key: String,
    /// Session fingerprint sent as `?<cookie_key>=<fingerprint>` on every connect; `None`
    /// lets the server use the connection id. Default `None`.
    pub fingerprint: Option<Fingerprint>,
    /// How long the first connect may take, from [`Client::connect`](super::Client::connect)
    /// until the connection is configured (socket open, rooms rejoined, detailsView
    /// answered). Primus's `timeout`. Default 10 s.
    pub connect_timeout: Duration,
    /// The connection is declared dead when no `primus::ping::` arrives for this long
    /// (Primus's `pingTimeout`, 1.5 × the server's 30 s ping interval); `None` disables
    /// the watchdog. Default 45 s.
    pub ping_timeout: Option<Duration>,
    /// A request that got no response this long after it was issued (queued time
    /// included) fails with [`RequestFailure::TimedOut`](super::RequestFailure::TimedOut).
    /// Default 30 s.
    pub request_timeout: Duration,
    /// Reconnect backoff (Primus's `recovery` module).
    pub reconnect: ReconnectConfig,
    /// Whether a failed first attempt after [`Client::connect`](super::Client::connect)
    /// (socket refused, handshake or configure failed, `connect_timeout`) is retried
    /// with the `reconnect` backoff, as a lost connection is. Primus does (its default
    /// `strategy` includes `timeout`: an error while connecting starts its recovery).
    /// When off, the client stops instead with
    /// [`DisconnectReason::FirstConnectFailed`](super::DisconnectReason::FirstConnectFailed).
    /// Default `true`.
    pub retry_first_connect: bool,
    /// Most application commands held while the client is not connected (Primus's
    /// `queueSize`, which is unbounded by default; ours is bounded). `0` disables the
    /// offline queue: commands issued while not connected return
    /// [`UsageError::QueueFull`](crate::error::UsageError::QueueFull). Default 1024.
    pub max_offline_queue: usize,
    /// What happens when the offline queue is full. Default [`QueuePolicy::DropOldest`]
    /// (what Primus does).
    pub queue_policy: QueuePolicy,
    /// Most application requests outstanding at once (queued plus awaiting a response);
    /// beyond it commands return
    /// [`UsageError::TooManyPending`](crate::error::UsageError::TooManyPending). At least 1.
    /// Default 4096.
    pub max_pending_requests: usize,
    /// Longest server message accepted, in bytes; longer ones are dropped and reported as
    /// a protocol violation. Primus's `maxLength`. Default 10 MiB.
    pub max_message_len: usize,
    /// Rooms to join on the first connect (and rejoin on every reconnect). Duplicates
    /// are ignored. Default none.
    pub rooms: Vec<RoomName>,
}

/// Reconnect backoff: Primus's `recovery` defaults (docs/protocol.md#heartbeat-and-reconnect).
///
/// Retry `n` waits `min` for `n == 1`, else
/// `min(round((rand + 1) * min * factor^(n-1)), max)` milliseconds with `rand ∈ [0, 1)`
/// drawn from the client's seeded RNG. After `retries` failed retries the client gives
/// up ([`ClientEvent::ReconnectFailed`](super::ClientEvent::ReconnectFailed)).
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectConfig {
    /// Delay before the first retry, and the base of the later ones. At least 1 ms.
    /// Default 500 ms.
    pub min: Duration,
    /// Longest delay between retries; `None` is unbounded (Primus's `Infinity`). Default
    /// `None`.
    pub max: Option<Duration>,
    /// Exponential factor, finite and at least 1. Default 2.
    pub factor: f64,
    /// Retries before giving up; `0` never reconnects. Default 10.
    pub retries: u32,
    /// How long one retry may take, from opening the socket until the connection is
    /// configured (Primus's `reconnect timeout`). Default 30 s.
    pub attempt_timeout: Duration,
}

/// What a command does when the offline queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueuePolicy {
    /// The new command is refused with
    /// [`UsageError::QueueFull`](crate::error::UsageError::QueueFull).
    RejectNew,
    /// The oldest queued command fails with
    /// [`RequestFailure::Dropped`](super::RequestFailure::Dropped) and the new one is
    /// queued (Primus's behaviour).
    #[default]
    DropOldest,
}

impl ClientConfig {
    /// Primus's client `pingTimeout` for a server heartbeat `interval` (as the
    /// server-compiled client gets it): `interval + round(interval / 2)`, or `None` when
    /// the server has no heartbeat. Feed it the `pingInterval` of the server's
    /// `/primus/spec` ([`handshake::spec_request`](crate::handshake::spec_request)).
    pub fn ping_timeout_for(interval: Option<Duration>) -> Option<Duration> {
        let ms = interval?.as_millis();
        let half = ms.div_ceil(2); // Math.round(ms / 2) for whole ms
        Some(Duration::from_millis(
            u64::try_from(ms + half).unwrap_or(u64::MAX),
        ))
    }

    /// Default connect timeout: Primus's `timeout`.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default ping watchdog: Primus's `pingTimeout`.
    pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(45);
    /// Default request deadline.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default offline queue capacity.
    pub const DEFAULT_MAX_OFFLINE_QUEUE: usize = 1024;
    /// Default limit on outstanding requests.
    pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 4096;
    /// Default longest server message: Primus's `maxLength`.
    pub const DEFAULT_MAX_MESSAGE_LEN: usize = 10 * 1024 * 1024;

    /// A default configuration for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Checks every value; the URL itself is checked by the handshake module in
    /// [`Client::new`](super::Client::new).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        fn bad(field: &'static str, reason: &'static str) -> Result<(), ConfigError> {
            Err(ConfigError::InvalidValue { field, reason })
        }
        if !self.pathname.starts_with('/') {
            return bad("pathname", "must start with '/'");
        }
        if self.cookie_key.is_empty() {
            return bad("cookie_key", "must not be empty");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be positive");
        }
        if self.ping_timeout.is_some_and(|d| d.is_zero()) {
            return bad("ping_timeout", "must be positive (use None to disable)");
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be positive");
        }
        if self.max_pending_requests == 0 {
            return bad("max_pending_requests", "must be at least 1");
        }
        if self.max_message_len == 0 {
            return bad("max_message_len", "must be at least 1");
        }
        self.reconnect.validate()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".into(),
            pathname: "/primus".into(),
            cookie_key: "sessionID".into(),
            fingerprint: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            ping_timeout: Some(Self::DEFAULT_PING_TIMEOUT),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            reconnect: ReconnectConfig::default(),
            retry_first_connect: true,
            max_offline_queue: Self::DEFAULT_MAX_OFFLINE_QUEUE,
            queue_policy: QueuePolicy::default(),
            max_pending_requests: Self::DEFAULT_MAX_PENDING_REQUESTS,
            max_message_len: Self::DEFAULT_MAX_MESSAGE_LEN,
            rooms: Vec::new(),
        }
    }
}

impl ReconnectConfig {
    /// Default first delay: recovery's `min`.
    pub const DEFAULT_MIN: Duration = Duration::from_millis(500);
    /// Default factor: recovery's `factor`.
    pub const DEFAULT_FACTOR: f64 = 2.0;
    /// Default retries: recovery's `retries`.
    pub const DEFAULT_RETRIES: u32 = 10;
    /// Default per-retry timeout: recovery's `reconnect timeout`.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

    fn validate(&self) -> Result<(), ConfigError> {
        fn bad(field: &'static str, reason: &'static str) -> Result<(), ConfigError> {
            Err(ConfigError::InvalidValue { field, reason })
        }
        if self.min < Duration::from_millis(1) {
            return bad("reconnect.min", "must be at least 1 ms");
        }
        if self.max.is_some_and(|max| max < self.min) {
            return bad("reconnect.max", "must not be below reconnect.min");
        }
        if !self.factor.is_finite() || self.factor < 1.0 {
            return bad("reconnect.factor", "must be finite and at least 1");
        }
        if self.attempt_timeout.is_zero() {
            return bad("reconnect.attempt_timeout", "must be positive");
        }
        Ok(())
    }
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            min: Self::DEFAULT_MIN,
            max: None,
            factor: Self::DEFAULT_FACTOR,
            retries: Self::DEFAULT_RETRIES,
            attempt_timeout: Self::DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_primus() {
        let c = ClientConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.pathname, "/primus");
        assert_eq!(c.cookie_key, "sessionID");
        assert_eq!(c.connect_timeout, Duration::from_millis(10_000));
        assert_eq!(c.ping_timeout, Some(Duration::from_millis(45_000)));
        assert_eq!(c.reconnect.min, Duration::from_millis(500));
        assert_eq!(c.reconnect.retries, 10);
        assert_eq!(c.reconnect.factor, 2.0);
        assert_eq!(c.reconnect.max, None);
        assert_eq!(c.reconnect.attempt_timeout, Duration::from_secs(30));
        assert!(c.retry_first_connect);
    }

    #[test]
    fn rejects_out_of_range_values() {
        type Mutation = Box<dyn Fn(&mut ClientConfig)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("pathname", Box::new(|c| c.pathname = "primus".into())),
            ("cookie_key", Box::new(|c| c.cookie_key.clear())),
            (
                "connect_timeout",
                Box::new(|c| c.connect_timeout = Duration::ZERO),
            ),
            (
                "ping_timeout",
                Box::new(|c| c.ping_timeout = Some(Duration::ZERO)),
            ),
            (
                "request_timeout",
                Box::new(|c| c.request_timeout = Duration::ZERO),
            ),
            (
                "max_pending_requests",
                Box::new(|c| c.max_pending_requests = 0),
            ),
            ("max_message_len", Box::new(|c| c.max_message_len = 0)),
            (
                "reconnect.min",
                Box::new(|c| c.reconnect.min = Duration::from_micros(10)),
            ),
            (
                "reconnect.max",
                Box::new(|c| c.reconnect.max = Some(Duration::from_millis(100))),
            ),
            (
                "reconnect.factor",
                Box::new(|c| c.reconnect.factor = f64::NAN),
            ),
            ("reconnect.factor", Box::new(|c| c.reconnect.factor = 0.5)),
            (
                "reconnect.attempt_timeout",
                Box::new(|c| c.reconnect.attempt_timeout = Duration::ZERO),
            ),
        ];
        for (field, mutate) in cases {
            let mut c = ClientConfig::default();
            mutate(&mut c);
            match c.validate() {
                Err(ConfigError::InvalidValue { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let c = ClientConfig {
            ping_timeout: None,
            max_offline_queue: 0,
            reconnect: ReconnectConfig {
                retries: 0,
                ..ReconnectConfig::default()
            },
            ..ClientConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn ping_timeout_follows_primus() {
        use std::time::Duration;
        let t = |ms| ClientConfig::ping_timeout_for(Some(Duration::from_millis(ms)));
        assert_eq!(t(30_000), Some(Duration::from_millis(45_000)));
        assert_eq!(t(1_001), Some(Duration::from_millis(1_502)));
        assert_eq!(ClientConfig::ping_timeout_for(None), None);
    }
}
