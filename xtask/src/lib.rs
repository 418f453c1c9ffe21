//! Project automation behind `cargo xtask`.

pub mod stage;
