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

/// Checks a byte scanner against the plain loop it replaces: 50 000 arrays of 19 bytes
/// drawn from `alphabet` (xorshift, fixed seed), from a drawn start; `scan(bytes, from)`
/// must give the first index at or after `from` whose byte `stops`, or 19.
#[cfg(test)]
pub(crate) fn check_scanner(
    alphabet: &[u8],
    scan: impl Fn(&[u8], usize) -> usize,
    stops: impl Fn(u8) -> bool,
) {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..50_000 {
        let mut bytes = [0u8; 19];
        for b in &mut bytes {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = alphabet[(state % alphabet.len() as u64) as usize];
        }
        let from = (state >> 32) as usize % 19;
        let want = (from..19).find(|&i| stops(bytes[i])).unwrap_or(19);
        assert_eq!(scan(&bytes, from), want, "{bytes:?} {from}");
    }
}
