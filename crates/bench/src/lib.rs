//! The benchmark suite behind `cargo xtask bench`.
//!
//! Everything is measured through the real release binaries over loopback HTTP, in one run, so
//! the figures can be compared side by side: the handler against a minimal axum baseline
//! (`bench-baseline`), the whole pipeline through the devhost, and the handler process itself.
//! In-process micro-benchmarks live in `benches/micro.rs` (criterion); the runner reads their
//! estimates. The report is `BENCHMARKS.md`.

pub mod criterion_report;
pub mod fixtures;
pub mod load;
pub mod machine;
pub mod process;
pub mod report;
pub mod suite;
pub mod targets;
