//! `e2e-handler`: the `handler` binary for this crate's tests (crates/handler/src/bin/handler.rs).

use std::process::ExitCode;

/// As the real binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    handler::main()
}
