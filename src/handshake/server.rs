//! Server side: request parsing, the upgrade decision, fingerprint and client address.
//! (The request parser and `evaluate` are being written; these types are stable.)

use super::HandshakeLimits;
use std::net::SocketAddr;

/// Handshake configuration.
#[derive(Clone, Debug, Default)]
pub struct HandshakeConfig {
    /// Limits.
    pub limits: HandshakeLimits,
}

/// An accepted upgrade: what the server needs to open the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The `?sessionID=` fingerprint, if any.
    pub fingerprint: Option<String>,
    /// Effective remote IP.
    pub remote_ip: String,
    /// Effective remote port.
    pub remote_port: u16,
}

impl Handshake {
    /// A handshake for a peer address (tests, in-memory links).
    pub fn for_peer(peer: SocketAddr, fingerprint: Option<String>) -> Self {
        Self {
            fingerprint,
            remote_ip: peer.ip().to_string(),
            remote_port: peer.port(),
        }
    }
}
