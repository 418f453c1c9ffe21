//! Project automation behind `cargo xtask`.

pub mod stage;

pub use stage::build as build_binary;
