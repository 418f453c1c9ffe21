//! Microsoft's Service Bus SDKs as test clients: where the Python one is installed, and the
//! emulator-form connection string they connect to the devhost with.

use std::path::PathBuf;

/// The Python with azure-servicebus: `SB_PYTHON`, else the virtual environment `.ci/run` creates
/// (`~/.cache/resilient-jobs/venv-sdk`), which must exist.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SB_PYTHON") {
        return p.into();
    }
    let p = PathBuf::from(std::env::var_os("HOME").unwrap())
        .join(".cache/resilient-jobs/venv-sdk/bin/python");
    assert!(
        p.exists(),
        "{} is missing: install azure-servicebus==7.15.0 into it (as .ci/run does) or set SB_PYTHON",
        p.display()
    );
    p
}

/// The connection string `devhost start` prints for its AMQP port, with the default key.
pub fn connection_string(amqp_port: u16) -> String {
    format!(
        "Endpoint=sb://127.0.0.1:{amqp_port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"
    )
}
