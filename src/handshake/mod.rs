//! The HTTP/1.1 WebSocket upgrade handshake, from raw bytes, for both roles.
//!
//! Pure functions: bytes in, a decision and bytes out. No IO, no clock, no randomness
//! (the client's WebSocket key and cache-buster are arguments).
//!
//! * **Server:** [`parse_request`] until the head is complete, then [`evaluate`] turns
//!   the request into a [`Decision`]: the `101` bytes plus a [`Handshake`] for
//!   `Server::handle_open`, or a complete HTTP response to write before closing
//!   (`/primus/spec`, `426`, `404`, `400`, `403`). [`reject_malformed`] answers a head
//!   that could not be parsed.
//! * **Client:** [`client_upgrade`] builds the Primus URL and the `GET` request bytes;
//!   [`parse_response`] checks the server's answer.
//!
//! Both parsers are incremental: call them again with the grown buffer until they
//! report a complete head, and keep the bytes after `consumed` (a peer may send its
//! first WebSocket frame right behind the head).

mod client;
mod server;

pub use client::{
    client_upgrade, parse_response, parse_spec_response, spec_request, yeast, ClientUpgrade,
    ResponseParsed, SpecParsed, SpecRequest, UrlError,
};
pub(crate) use server::{client_address, decide, Decided};
pub use server::{
    evaluate, parse_request, reject_malformed, switching_protocols, Decision, Handshake,
    HandshakeConfig, IpNet, Parsed,
};

use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use std::fmt;

/// The GUID RFC 6455 appends to the client key before hashing.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Hard limits on an HTTP head (request or response), enforced while parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Most bytes in the head, request or status line and final empty line included
    /// (default 16 KiB, h11's `max_incomplete_event_size`).
    pub max_header_bytes: usize,
    /// Most header lines (default 64).
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

/// Why an HTTP head was refused by [`parse_request`] or [`parse_response`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head did not end within `limit` bytes.
    HeadTooLarge {
        /// [`HandshakeLimits::max_header_bytes`].
        limit: usize,
    },
    /// The head has more than `limit` header lines.
    TooManyHeaders {
        /// [`HandshakeLimits::max_headers`].
        limit: usize,
    },
    /// The head is not valid HTTP/1.x; the text names the first offending part.
    Malformed(&'static str),
    /// Client side: the server answered with this status instead of `101`.
    UnexpectedStatus {
        /// The HTTP status code of the response.
        status: u16,
    },
    /// Client side: the `101` response lacks `Upgrade: websocket`.
    MissingUpgrade,
    /// Client side: the `101` response lacks the `upgrade` token in `Connection`.
    MissingConnectionUpgrade,
    /// Client side: `Sec-WebSocket-Accept` is missing, repeated or wrong for our key.
    AcceptMismatch,
    /// Client side: the server selected an extension we did not offer.
    UnexpectedExtension,
    /// Client side: the server selected a subprotocol we did not offer.
    UnexpectedSubprotocol,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge { limit } => {
                write!(f, "HTTP head does not end within {limit} bytes")
            }
            Self::TooManyHeaders { limit } => write!(f, "more than {limit} HTTP header lines"),
            Self::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            Self::UnexpectedStatus { status } => {
                write!(f, "server answered HTTP {status} instead of 101")
            }
            Self::MissingUpgrade => f.write_str("response lacks `Upgrade: websocket`"),
            Self::MissingConnectionUpgrade => f.write_str("response lacks `Connection: upgrade`"),
            Self::AcceptMismatch => f.write_str("wrong or missing Sec-WebSocket-Accept"),
            Self::UnexpectedExtension => f.write_str("server selected an unrequested extension"),
            Self::UnexpectedSubprotocol => {
                f.write_str("server selected an unrequested subprotocol")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2):
/// base64 of the SHA-1 of the key followed by the RFC's GUID.
///
/// ```
/// use actionhero_ws::handshake::sec_websocket_accept;
/// assert_eq!(sec_websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn sec_websocket_accept(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Adds the leading `/` Primus adds to a configured pathname (`primus/index.js:63-67`).
pub(crate) fn normalize_pathname(pathname: &str) -> String {
    if pathname.starts_with('/') {
        pathname.to_owned()
    } else {
        format!("/{pathname}")
    }
}

/// Header slots for httparse. A header line takes at least 3 bytes (`a:\n`), so a head
/// within `max_header_bytes` never needs more than `max_header_bytes / 3 + 2` slots;
/// capping keeps a huge `max_headers` from allocating for nothing.
fn header_slots(limits: &HandshakeLimits) -> Vec<httparse::Header<'static>> {
    let n = limits.max_headers.min(limits.max_header_bytes / 3 + 2);
    vec![httparse::EMPTY_HEADER; n]
}

/// The part of `buf` httparse may look at: at most `max_header_bytes`, so the outcome
/// depends only on that prefix and on whether more bytes arrived (the same result
/// whether the head comes whole or in pieces).
fn window<'a>(buf: &'a [u8], limits: &HandshakeLimits) -> &'a [u8] {
    buf.get(..limits.max_header_bytes).unwrap_or(buf)
}

/// Maps httparse's outcome on [`window`] to "head length" / "need more" / error.
fn head_status(
    status: httparse::Result<usize>,
    buf_len: usize,
    limits: &HandshakeLimits,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) if buf_len >= limits.max_header_bytes => {
            Err(HandshakeError::HeadTooLarge {
                limit: limits.max_header_bytes,
            })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(httparse_error(e, limits)),
    }
}

fn httparse_error(e: httparse::Error, limits: &HandshakeLimits) -> HandshakeError {
    HandshakeError::Malformed(match e {
        httparse::Error::TooManyHeaders => {
            return HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            }
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid method or token",
        httparse::Error::Version => "invalid HTTP version",
    })
}

/// True when any of `values`, read as a comma-separated list, holds `token`
/// (ASCII case-insensitive, optional whitespace around elements).
fn has_token<'a>(values: impl IntoIterator<Item = &'a [u8]>, token: &str) -> bool {
    values.into_iter().any(|value| {
        value
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}
