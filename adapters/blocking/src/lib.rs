//! Blocking adapter for [`actionhero_ws`] (being written).

pub use actionhero_ws as core;
