//! `devhost`: run a function app locally, and read its application map and telemetry (see
//! [`devhost::cli`]).

use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: the devhost moves a lot of short-lived JSON.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    devhost::cli::main()
}
