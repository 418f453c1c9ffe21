//! The custom handler's process, as the host runs it: started, probed until ready, restarted
//! when it dies or an invocation times out ([`supervisor`]), and invoked ([`invoker`]).

pub mod invoker;
pub mod supervisor;

pub use invoker::{InvokeError, Invoker};
pub use supervisor::{Handler, stopped};
