//! Server configuration: every limit is a named, documented value.

use std::time::Duration;

use crate::error::ConfigError;

/// The verbs Actionhero allows over WebSocket (`servers/websocket.ts`).
pub const DEFAULT_VERBS: [&str; 8] = [
    "quit",
    "exit",
    "documentation",
    "roomAdd",
    "roomLeave",
    "roomView",
    "detailsView",
    "say",
];

/// Configuration of a [`Server`](super::Server). `Default` gives Actionhero's defaults.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Welcome text sent on open as `{"welcome":…,"context":"api"}`; `None` disables it.
    /// Default: `Welcome to the actionhero api`.
    pub welcome: Option<String>,
    /// Primus heartbeat interval (one global tick); `None` disables the heartbeat.
    /// Default: 30 000 ms.
    pub ping_interval: Option<Duration>,
    /// Actionhero's `simultaneousActions`: a connection with this many actions running gets
    /// `you have too many pending requests` for the next one. Default: 5.
    pub simultaneous_actions: u32,
    /// Verbs allowed besides `action` and `file`. Default: [`DEFAULT_VERBS`].
    pub allowed_verbs: Vec<String>,
    /// Most open connections; `handle_open` refuses more. Default: 100 000.
    pub max_connections: usize,
    /// Most rooms one connection may be in; a `roomAdd` beyond it fails. Default: 256.
    pub max_rooms_per_connection: usize,
    /// Most file requests one connection may have outstanding; more answer "not found".
    /// Default: 16.
    pub max_pending_files_per_connection: u32,
    /// Most action requests over HTTP (`/api`) running at once, server-wide; more are
    /// answered `503` with `the server is too busy` (default 1024).
    pub max_pending_web_actions: usize,
    /// Most frames queued in the core for one connection and not yet drained by
    /// `poll_output`; beyond it the connection is closed as a slow consumer. Default: 4096.
    pub max_outbound_queue_per_connection: usize,
    /// Largest inbound message in bytes (Primus `maxLength`); larger closes with 1009.
    /// Default: 10 MiB.
    pub max_message_len: usize,
    /// Consecutive undecodable frames (invalid JSON) tolerated before the connection is
    /// closed with 1008. Default: 16.
    pub max_consecutive_violations: u32,
    /// Most rooms on the server. Default: 65 536.
    pub max_rooms: usize,
    /// How long `shutdown` waits for running actions before closing their connections.
    /// Default: 5 s.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            welcome: Some("Welcome to the actionhero api".into()),
            ping_interval: Some(Duration::from_millis(30_000)),
            simultaneous_actions: 5,
            allowed_verbs: DEFAULT_VERBS.iter().map(|v| (*v).to_string()).collect(),
            max_connections: 100_000,
            max_rooms_per_connection: 256,
            max_pending_files_per_connection: 16,
            max_pending_web_actions: 1024,
            max_outbound_queue_per_connection: 4096,
            max_message_len: 10 * 1024 * 1024,
            max_consecutive_violations: 16,
            max_rooms: 65_536,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::InvalidValue { field, reason });
        if self.ping_interval.is_some_and(|d| d.is_zero()) {
            return bad("ping_interval", "must be positive (use None to disable)");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        if self.max_outbound_queue_per_connection < 4 {
            return bad("max_outbound_queue_per_connection", "must be at least 4");
        }
        if self.max_message_len == 0 {
            return bad("max_message_len", "must be positive");
        }
        if self.max_consecutive_violations == 0 {
            return bad("max_consecutive_violations", "must be at least 1");
        }
        Ok(())
    }
}
