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

/// The index of the first byte from `i` on that is a control character, `"`, `\\` or
/// `also`, or `bytes.len()`: eight bytes at a time while none is, then byte by byte. The
/// JSON reader looks for the end of a plain string with it (`also` = `None`), the writer
/// for bytes that need escaping (`Some(0xE2)`, the lead byte of U+2028/U+2029).
#[inline(always)]
pub(crate) fn find_special(bytes: &[u8], mut i: usize, also: Option<u8>) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    // Exact tests of "some byte of x is below n" (n <= 0x80).
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(chunk);
        let mut hit = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if let Some(a) = also {
            hit |= below(x ^ (ONES * u64::from(a)), 1);
        }
        if hit != 0 {
            // The lowest flagged byte is exact (a borrow only runs upwards from it).
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while bytes
        .get(i)
        .is_some_and(|&b| b >= 0x20 && b != b'"' && b != b'\\' && Some(b) != also)
    {
        i += 1;
    }
    i
}

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
