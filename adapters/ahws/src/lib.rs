//! The parts of the `ahws` tool shared by its two binaries (`src/bin/`): the `ahws bench`
//! load generator and the bare `ahws-baseline` servers it is compared with, and
//! `ahws serve`'s settings (flags and config file).
//!
//! Tools sit on top of the adapters: `ahws serve`, `call` and `connect` are thin command
//! lines over [`actionhero_ws_tokio`]; `ahws bench` opens its sockets itself (it must
//! measure the server, not a client library) and takes every frame it writes, and its
//! reading of the server's frames, from the core ([`actionhero_ws::wire`]). Not a library
//! for other crates: the API follows the tool.

pub mod bench;
pub mod config;
