//! `tracing` spans behind the optional `tracing` feature; without it these are no-ops.

use std::future::Future;
use std::net::SocketAddr;

#[cfg(feature = "tracing")]
pub(crate) fn connection<F: Future>(fut: F, peer: SocketAddr) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    fut.instrument(tracing::info_span!("connection", %peer))
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn connection<F: Future>(fut: F, peer: SocketAddr) -> F {
    let _ = peer;
    fut
}

#[cfg(feature = "tracing")]
pub(crate) fn request<F: Future>(
    fut: F,
    kind: &'static str,
    name: &str,
    conn: Option<actionhero_ws::ConnectionHandle>,
) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    fut.instrument(tracing::info_span!("request", kind, name, ?conn))
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn request<F: Future>(
    fut: F,
    kind: &'static str,
    name: &str,
    conn: Option<actionhero_ws::ConnectionHandle>,
) -> F {
    let _ = (kind, name, conn);
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
