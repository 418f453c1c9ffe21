//! `jobctl`: the operator CLI for the job pipeline's Service Bus queue (see the `jobctl` library).

use std::process::ExitCode;

fn main() -> ExitCode {
    jobctl::main()
}
