//! HTTP side.

mod inspect;
pub mod library;

pub use library::*;
