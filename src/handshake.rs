//! The HTTP/1.1 upgrade handshake, from raw bytes (STUB: being written).

use std::net::SocketAddr;

/// Hard limits on the request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Most bytes in the request head.
    pub max_header_bytes: usize,
    /// Most header lines.
    pub max_headers: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

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
