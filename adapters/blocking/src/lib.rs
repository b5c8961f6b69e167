//! Blocking adapter for [`actionhero_ws`]: `std::net` sockets, `std::thread` threads,
//! `std::sync::mpsc` channels and tungstenite, for programs without an async runtime.
//!
//! * [`server`]: an Actionhero server (WebSocket, and HTTP before an upgrade: static
//!   files, the client library, `/api`). One accept thread, one thread per connection,
//!   one driver thread owning the core `Server`, and a small worker pool that runs
//!   actions (plain `Fn(ActionContext) -> ActionOutcome` functions).
//! * [`client`]: a client whose calls (`action`, `say`, `room_add`, …) block until
//!   their response; a background thread carries out the core's reconnects and rejoins.
//! * [`samples`]: Actionhero's sample actions wired as blocking handlers (interop tests,
//!   demos).
//! * [`metrics`]: a thread answering Prometheus scrapes with
//!   [`ServerHandle::metrics_text`].
//! * [`tls`] (feature `rustls`, on by default): the server's TLS configuration from PEM
//!   files, for [`ServerBuilder::tls`]: the server speaks `https://` and `wss://`
//!   (rustls with the ring provider). The client speaks plain `ws://` / `http://` only.
//!
//! The adapter only moves bytes, threads and time; every protocol decision (routes,
//! files, handshake, heartbeats, verbs, rooms, limits, reconnects) is made by the core
//! (docs/architecture.md#thin-adapters). The API has the shape of the
//! tokio adapter's.

pub use actionhero_ws as core;
/// The rustls version the server uses, to build a [`ServerBuilder::tls`] configuration.
#[cfg(feature = "rustls")]
pub use rustls;

pub mod client;
pub mod metrics;
mod pump;
pub mod samples;
pub mod server;
#[cfg(feature = "rustls")]
pub mod tls;
mod trace;
mod util;

pub use server::{ActionContext, Config, ServerBuilder, ServerError, ServerHandle};
