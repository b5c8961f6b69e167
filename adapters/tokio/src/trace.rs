//! `tracing` spans behind the optional `tracing` feature; without it these are no-ops.
//!
//! * `connection` (field `peer`, and `conn` once the core accepted the upgrade): the
//!   whole life of one accepted socket.
//! * `request` (fields `kind` = `action` | `file`, `name`, `conn`, `request`): one action
//!   or file request handed to the application, from its handler's first poll (on the
//!   worker, for actions that finish at once) to its answer.

use std::future::Future;
use std::net::SocketAddr;

use actionhero_ws::server::RequestId;
use actionhero_ws::ConnectionHandle;

/// A request span (zero-sized without the feature).
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// A request span (zero-sized without the feature).
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug)]
pub(crate) struct Span;

#[cfg(feature = "tracing")]
pub(crate) fn connection<F: Future>(fut: F, peer: SocketAddr) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    let span = tracing::info_span!("connection", %peer, conn = tracing::field::Empty);
    fut.instrument(span)
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn connection<F: Future>(fut: F, peer: SocketAddr) -> F {
    let _ = peer;
    fut
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

#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(fut: F, span: Span) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    fut.instrument(span)
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn instrument<F: Future>(fut: F, span: Span) -> F {
    let _ = span;
    fut
}

/// `tracing::debug!` with the feature, nothing without it.
macro_rules! debug {
    ($($t:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!($($t)*);
    }};
}
pub(crate) use debug;
