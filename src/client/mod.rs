//! The sans-IO Actionhero WebSocket client (STUB: being written).

/// Client configuration.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {}

/// The client machine.
#[derive(Debug)]
pub struct Client {}
