//! The Azure Functions custom-handler wire contract, as types.
//!
//! The Functions host talks to a custom handler over plain HTTP on loopback: it `POST`s an
//! [`InvocationRequest`] to `/{FunctionName}` and expects an [`InvocationResponse`] back.
//! This crate models both directions so that the handler (which reads requests and writes
//! responses) and the local host stand-in (which writes requests and reads responses) share a
//! single, tested definition of the contract.
//!
//! Sources (public), `Azure/azure-functions-host`:
//! `src/WebJobs.Script/Workers/Http/DefaultHttpWorkerService.cs` (invocation headers
//! `X-Azure-Functions-InvocationId` / `X-Azure-Functions-HostVersion` / `User-Agent` in `AddHeaders`;
//! the `GET /` readiness poll in `IsWorkerReady`; `EnsureSuccessStatusCode` on every answer),
//! `src/WebJobs.Script/Workers/ScriptInvocationContextExtensions.cs` (`ToHttpScriptInvocationContext`,
//! `GetHttpScriptInvocationContextValue`: how `Data` and `Metadata` are encoded),
//! `src/WebJobs.Script/Extensions/HttpRequestExtensions.cs` (`GetRequestAsJObject`: the HTTP trigger
//! shape), `src/WebJobs.Script/Workers/Http/HttpScriptInvocationResultExtensions.cs` (`Outputs`,
//! the `res` object, the base64 conversion of string outputs); and `Azure/azure-sdk-for-net`
//! `sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus` (`ServiceBusTriggerBindingStrategy`:
//! the Service Bus trigger metadata).
//!
//! The contract has two encoding quirks that this crate hides:
//! * every non-object scalar the host sends (strings, numbers) is first serialised with
//!   `JsonConvert.SerializeObject` and then sent as a JSON *string*, so a string `abc` arrives as
//!   `"\"abc\""` and a number `1` as `"1"` (see [`encoding`]);
//! * a Service Bus message body (default `dataType` string) is therefore double-encoded
//!   (see [`ServiceBusMessage`]).
//!
//! The crate does no I/O and knows nothing of the job domain.

pub mod encoding;
mod error;
mod http;
mod invocation;
pub mod newtonsoft;
mod raw;
mod response;
mod servicebus;

pub use error::WireError;
pub use http::{HttpRequestData, HttpResponseData};
pub use invocation::{InvocationRequest, SysMetadata};
pub use raw::RawInvocationRequest;
pub use response::{InvocationResponse, TypedInvocationResponse};
pub use servicebus::{
    OutputError, ServiceBusMessage, ServiceBusMetadata, service_bus_output_bodies,
};

/// Header carrying the invocation id on every invocation request from the host.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";
/// Header carrying the host version on every invocation request from the host.
pub const HOST_VERSION_HEADER: &str = "x-azure-functions-hostversion";
/// Environment variable through which the host tells the handler which port to listen on.
pub const PORT_ENV: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
