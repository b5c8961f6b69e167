//! The HTTP side, from raw request heads: which route answers (WebSocket upgrade, the
//! Primus endpoints, the generated client library, static files, actions over `/api`),
//! the fingerprint cookie and CORS. Pure decisions: the adapter reads bytes and files
//! and writes what it is told (docs/architecture.md#the-http-side).
//!
//! ```text
//!   handshake::parse_request(bytes) ─► Router::route(&request, ctx) ─► Route
//!     Upgrade   write the 101, then Server::handle_open
//!     Respond   write HttpResponse (keep the connection when it says so)
//!     File      drive files::FileLookup with file metadata, read the bytes, write
//!     Action    read body_len bytes, then Server::handle_api (ApiWaiters::submit); its
//!               answer comes out as server::Output::Http (ApiWaiters::answer)
//! ```

pub(crate) mod api;
mod cors;
pub mod files;
mod fingerprint;
mod inspect;
pub mod library;
mod response;
mod router;
mod waiters;

pub use cors::CorsConfig;
pub(crate) use fingerprint::request_cookie;
pub use fingerprint::{web_fingerprint, FingerprintConfig, WebFingerprint};
pub use library::{client_library, primus_library, ClientLibraryConfig, ClientUrl};
pub use response::{HttpResponse, Unserved};
pub use router::{
    ApiRequest, BodyKind, FileAnswer, FileBody, RequestContext, RootEndpoint, Route, Router,
    RouterStats, StaticFile, WebConfig, WebHeaders, CLIENT_LIBRARY_FILE,
};
pub use waiters::{ApiCall, ApiWaiters};
