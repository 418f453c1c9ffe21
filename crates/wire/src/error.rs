use thiserror::Error;

/// Why a value received over the wire does not fit the contract.
#[derive(Debug, Error)]
pub enum WireError {
    /// A binding the function declares is absent from `Data`.
    #[error("binding `{0}` is missing from the invocation `Data`")]
    MissingBinding(String),
    /// A binding is present but its value does not have the expected shape.
    #[error("binding `{binding}` is malformed: {reason}")]
    MalformedBinding {
        /// Binding name (as in `function.json`).
        binding: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A metadata entry is present but cannot be decoded to its documented type.
    #[error("metadata `{key}` is malformed: {reason}")]
    MalformedMetadata {
        /// Metadata key, e.g. `DeliveryCount`.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
}
