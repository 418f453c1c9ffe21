//! Project automation behind `cargo xtask`.

pub mod bench;
pub mod stage;

pub use stage::build as build_binary;
