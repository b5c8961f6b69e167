//! UNSTABLE: not public API. Fuzz bodies as plain functions of `&[u8]`, called by the
//! `fuzz/` targets and by `tests/fuzz_seeds.rs`, which replays every committed seed.
