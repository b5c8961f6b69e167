//! TLS for the server (feature `rustls`): a rustls [`ServerConfig`] with the ring
//! provider from a PEM certificate chain and private key, for
//! [`ServerBuilder::tls`](crate::ServerBuilder::tls).
//!
//! ```no_run
//! use actionhero_ws_blocking::{tls, Config, ServerBuilder};
//!
//! let server = ServerBuilder::new(Config::default())
//!     .tls(tls::server_config_from_files("cert.pem", "key.pem")?)
//!     .bind("0.0.0.0:8443")?;
//! server.join();
//! # Ok::<(), std::io::Error>(())
//! ```

pub use actionhero_ws_rustls::{server_config, server_config_from_files};
/// The rustls server configuration these functions build.
pub use rustls::ServerConfig;
