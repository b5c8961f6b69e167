//! `tracing` spans behind the optional `tracing` feature; without it these are no-ops.
//!
//! * `connection` (field `peer`, and `conn` once the core accepted the upgrade): entered
//!   on the connection's thread for its whole life.
//! * `request` (fields `kind` = `action` | `file`, `name`, `conn`, `request`): one action
//!   or file request, entered on the worker that runs it.

use std::net::SocketAddr;

use actionhero_ws::server::RequestId;
use actionhero_ws::ConnectionHandle;

/// A span (zero-sized without the feature).
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// A span (zero-sized without the feature).
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug)]
pub(crate) struct Span;

/// The span of one accepted socket.
pub(crate) fn connection(peer: SocketAddr) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!("connection", %peer, conn = tracing::field::Empty)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = peer;
        Span
    }
}

/// Names the current connection span's connection, once the core has accepted it.
pub(crate) fn opened(conn: ConnectionHandle) {
    #[cfg(feature = "tracing")]
    tracing::Span::current().record("conn", tracing::field::display(conn));
    #[cfg(not(feature = "tracing"))]
    let _ = conn;
}

/// The span of one request handed to the application.
pub(crate) fn request(
    kind: &'static str,
    name: &str,
    conn: Option<ConnectionHandle>,
    request: RequestId,
) -> Span {
    #[cfg(feature = "tracing")]
    {
        let conn = conn.map(tracing::field::display);
        tracing::info_span!("request", kind, name, conn, request = request.0)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (kind, name, conn, request);
        Span
    }
}

/// Runs `f` inside `span`.
pub(crate) fn in_span<R>(span: &Span, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tracing")]
    {
        span.in_scope(f)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = span;
        f()
    }
}

/// `tracing::debug!` with the feature, nothing without it.
macro_rules! debug {
    ($($t:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!($($t)*);
    }};
}
pub(crate) use debug;
