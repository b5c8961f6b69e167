//! Pure codecs for every frame of the protocol, both directions, both roles.
//!
//! Value in, text out (and back): no state, no time, no IO. The encoders write exactly
//! the bytes Actionhero 29.3.5 and ActionheroWebsocketClient put on the wire, key order
//! included; see `tests/wire_golden.rs` for the recorded frames they are checked against.

// JavaScript's value semantics (String(), truthiness, key order, number formatting):
// internal to the codecs and the server. Public only with the unstable `_internal`
// feature, for the property and golden tests that check it against Node.
#[cfg(feature = "_internal")]
pub mod js;
#[cfg(not(feature = "_internal"))]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod js;
pub mod primus;
pub mod reply;
pub mod request;
mod scan;

use std::fmt;

pub use reply::ServerFrame;
pub use request::{ClientFrame, ClientRequest, Request, Verb};

/// A frame that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The text is not valid JSON (Primus drops such frames without an answer).
    InvalidJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson { line, column } => {
                write!(f, "invalid JSON at line {line}, column {column}")
            }
        }
    }
}

impl std::error::Error for WireError {}
