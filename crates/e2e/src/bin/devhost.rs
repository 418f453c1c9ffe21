//! `e2e-devhost`: the `devhost` binary for this crate's tests (crates/devhost/src/bin/devhost.rs).

use std::process::ExitCode;

/// As the real binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    devhost::cli::main()
}
