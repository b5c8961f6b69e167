//! Frames: the unit the core hands to adapters (one complete WebSocket message).

use bytes::Bytes;
use std::fmt;

/// UTF-8 text of one WebSocket text message, cheap to clone (room fan-out shares one buffer).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(Bytes);

impl Text {
    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        // The only constructors take `String`/`&'static str`, so the bytes are UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes (UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared buffer, for adapters that build their WebSocket message from `Bytes`.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl Text {
    /// A copy of `s` in a buffer of exactly its size.
    pub(crate) fn copied(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One WebSocket message the adapter must write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(Text),
    /// Close the WebSocket. `code` `None` means a close frame without a status code (what
    /// Primus sends, seen by the peer as 1005).
    Close {
        /// Close status code, if any.
        code: Option<u16>,
        /// Close reason (at most 123 bytes).
        reason: &'static str,
    },
}

impl Frame {
    /// The status code and reason of a close frame that has a status code (`None` for a
    /// text frame or a close without status).
    pub fn close_status(&self) -> Option<(u16, &'static str)> {
        match self {
            Self::Close {
                code: Some(code),
                reason,
            } => Some((*code, reason)),
            Self::Close { code: None, .. } | Self::Text(_) => None,
        }
    }

    /// The text of a text frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t.as_str()),
            Self::Close { .. } => None,
        }
    }
}

/// How a socket ended, as the adapter saw it; the same for the server and the client
/// machines.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed (`code` `None` for a close frame without status, or none at all).
    Remote {
        /// The peer's close code, if any.
        code: Option<u16>,
    },
    /// A read or write failed (the adapter's error text).
    Error(String),
    /// The transport refused a message over the size limit; the adapter sent
    /// [`CloseCause::close_frame`] before dropping the socket.
    MessageTooLarge,
    /// The peer broke the WebSocket protocol (an unmasked client frame, a fragmented
    /// control frame, reserved bits set, …), with the transport's description; the
    /// adapter sent [`CloseCause::close_frame`] before dropping the socket.
    Protocol(String),
    /// A text message that is not valid UTF-8; the adapter sent
    /// [`CloseCause::close_frame`] before dropping the socket.
    InvalidUtf8,
}

impl CloseCause {
    /// The close frame the adapter sends when the transport itself ended the socket
    /// for this cause (`None`: nothing to send, the socket is already gone). As the
    /// `ws` package does, an oversize message gets 1009, a protocol error 1002 and
    /// invalid UTF-8 1007 (`ws` sends no reason; ours names the code's meaning, the
    /// details stay in the cause).
    pub fn close_frame(&self) -> Option<Frame> {
        let (code, reason) = match self {
            Self::MessageTooLarge => (1009, "message too big"),
            Self::Protocol(_) => (1002, "protocol error"),
            Self::InvalidUtf8 => (1007, "invalid UTF-8"),
            Self::Remote { .. } | Self::Error(_) => return None,
        };
        Some(Frame::Close {
            code: Some(code),
            reason,
        })
    }
}
