//! Helpers shared by the integration tests. Each test crate uses only part of them.
#![allow(dead_code, unreachable_pub)]
// Test helpers: a panic is a failed assertion.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod transcript;
