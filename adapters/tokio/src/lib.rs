//! tokio adapter for [`actionhero_ws`]: an Actionhero-compatible WebSocket server and
//! client on tokio sockets and tasks.
//!
//! The adapter is thin (docs/architecture.md#thin-adapters): it accepts and opens
//! sockets, reads the HTTP upgrade head and hands it to the core's handshake functions,
//! runs the RFC 6455 layer with tokio-tungstenite, passes whole text messages and close
//! notices to the core, writes what the core emits, sleeps until the core's deadline, and
//! hands events to the application. Heartbeats, rooms, message ids, reconnects and every
//! limit live in the core.
//!
//! * [`server`]: [`ServerBuilder`] → [`ServerHandle`]. One worker thread owns the core
//!   [`Server`](actionhero_ws::server::Server) and runs every connection of the server
//!   (a task per socket, which feeds the core itself). Actions are async Rust functions,
//!   polled once as they are requested and run as tasks of the worker if they wait.
//! * [`samples`]: Actionhero's sample actions (`randomNumber`, `status`, `sleepTest`,
//!   `cacheTest`, `validationTest`, `createChatRoom`) registered on a builder.
//! * [`files`]: the `file` verb's reads from a public directory.
//! * [`metrics`]: a listener answering Prometheus scrapes with
//!   [`ServerHandle::metrics_text`].
//! * [`tls`] (feature `rustls`, on by default): the server's TLS configuration from PEM
//!   files, for [`ServerBuilder::tls`].
//! * `server::HttpService` (feature `hyper`; `axum` adds axum's `ConnectInfo`): the
//!   server's routes, upgrades included, as a tower `Service` inside an application's
//!   own hyper or axum server.
//!
//! ```no_run
//! use actionhero_ws_tokio::server::{ActionContext, ServerBuilder};
//! use actionhero_ws_tokio::core::server::{ActionOutcome, ActionSpec};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = ServerBuilder::new()
//!     .listen("127.0.0.1:8080")
//!     .room("defaultRoom")
//!     .action(ActionSpec::new("hello"), |ctx: ActionContext| async move {
//!         let mut out = serde_json::Map::new();
//!         out.insert("hello".into(), ctx.connection_id.to_string().into());
//!         ActionOutcome::Ok(out)
//!     })
//!     .serve()
//!     .await?;
//! server.shutdown(false).await;
//! # Ok(())
//! # }
//! ```

pub use actionhero_ws as core;
/// The rustls version the client uses, to build [`client::ClientOptions::tls`].
#[cfg(feature = "rustls")]
pub use tokio_rustls::rustls;

pub mod client;
pub mod files;
pub mod metrics;
#[cfg(feature = "redis")]
pub mod redis;
pub mod samples;
pub mod server;
mod timer;
#[cfg(feature = "rustls")]
pub mod tls;
mod trace;

pub use server::{ActionContext, AdapterConfig, ServerBuilder, ServerError, ServerHandle};

/// The README's code, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Wall-clock epoch milliseconds now.
pub(crate) fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// 16 bytes from the OS random source (a new browser fingerprint is made of them).
pub(crate) fn random_bytes16() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Still distinct per request, if not secret: the clock and a counter.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        b[..8].copy_from_slice(&epoch_ms().to_le_bytes());
        b[8..].copy_from_slice(&n.to_le_bytes());
    }
    b
}

/// Draws a 32-byte seed for a core state machine from the operating system.
///
/// # Errors
/// The OS random source failed.
pub fn os_seed() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(seed)
}
