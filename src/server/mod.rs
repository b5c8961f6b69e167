//! The sans-IO Actionhero WebSocket server (STUB: being written).

/// Server configuration.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {}

/// The server machine.
#[derive(Debug)]
pub struct Server {}
