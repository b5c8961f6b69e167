//! Configuration of every machine, re-exported in one place.

pub use crate::client::ClientConfig;
pub use crate::handshake::{HandshakeConfig, HandshakeLimits};
pub use crate::server::ServerConfig;
