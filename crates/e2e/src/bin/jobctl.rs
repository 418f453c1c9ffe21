//! `e2e-jobctl`: the `jobctl` binary for this crate's tests (crates/jobctl/src/bin/jobctl.rs).

use std::process::ExitCode;

fn main() -> ExitCode {
    jobctl::main()
}
