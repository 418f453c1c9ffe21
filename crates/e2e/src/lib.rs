//! Whole-pipeline tests through the real binaries (the AWS Lambda Rust runtime keeps its
//! integration tests in a crate of their own the same way). Each file under `tests/` starts the
//! devhost over a script root staged with the real handler (`test_support::script_root`) and
//! drives it as a client, an operator (`jobctl`) or a Service Bus SDK would.
//!
//! The library is empty: what this crate builds is its tests and, for them, the binaries
//! `e2e-devhost`, `e2e-handler` and `e2e-jobctl` (src/bin), each a call to the real binary's
//! library `main`, so that Cargo builds them and passes their paths to the tests
//! (`test_support::binary`).
