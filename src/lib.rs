#![doc = include_str!("../README.md")]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod frame;
#[cfg(any(fuzzing, feature = "_internal"))]
#[doc(hidden)]
#[allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)] // fuzz bodies assert by panicking
pub mod fuzz;
pub mod handshake;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod samples;
pub mod server;
pub mod time;
pub mod wire;

pub use frame::{CloseCause, Frame, Text};
pub use ids::{AttemptId, ConnectionHandle, ConnectionId, Fingerprint, MessageId, RoomName};

#[cfg(test)]
mod tests {
    fn assert_send<T: Send>() {}

    #[test]
    fn machines_are_send() {
        assert_send::<crate::server::Server>();
        assert_send::<crate::client::Client>();
    }
}
