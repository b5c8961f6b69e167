//! How many cases a property test runs: a quick count fixed per test for CI, raised (or
//! lowered) for every property at once by the `PROPTEST_CASES` environment variable.
//!
//! Included alone by the property tests (the rest of `support` is not needed there):
//!
//! ```ignore
//! #[path = "support/cases.rs"]
//! mod cases;
//!
//! proptest! {
//!     #![proptest_config(cases::config(96))]
//!     // ...
//! }
//! ```
//!
//! `PROPTEST_CASES=10000 cargo test` then runs 10 000 cases of each property, including
//! those whose quick count is below proptest's default of 256.

use proptest::test_runner::Config;

/// `quick` cases per property, or `PROPTEST_CASES` when it is set and not empty. Every other setting
/// is proptest's default, which reads the other `PROPTEST_*` variables.
pub(crate) fn config(quick: u32) -> Config {
    let default = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_some_and(|v| !v.is_empty()) {
        // Config::default() has already read (and validated) PROPTEST_CASES.
        default
    } else {
        Config {
            cases: quick,
            ..default
        }
    }
}
