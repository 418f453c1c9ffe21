//! `handler`: the custom-handler executable the Functions host starts (see `host.json` and
//! [`handler::startup`]).

use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: the handler is allocation-heavy (JSON in, JSON
/// out) and the deployed binary is static musl, whose allocator is slow under concurrency.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    handler::main()
}
