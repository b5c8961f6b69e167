//! TLS for the server (feature `rustls`): a rustls [`ServerConfig`] with the ring
//! provider from a PEM certificate chain and private key, for
//! [`ServerBuilder::tls`](crate::ServerBuilder::tls).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use actionhero_ws_tokio::{tls, ServerBuilder};
//!
//! let server = ServerBuilder::new()
//!     .listen("0.0.0.0:8443")
//!     .tls(tls::server_config_from_files("cert.pem", "key.pem")?)
//!     .serve()
//!     .await?;
//! # let _ = server;
//! # Ok(())
//! # }
//! ```

pub use actionhero_ws_rustls::{server_config, server_config_from_files};
/// The rustls server configuration these functions build.
pub use tokio_rustls::rustls::ServerConfig;
