//! The custom handler's process, as the host runs it: started, probed until ready, restarted
//! when it dies or an invocation times out ([`supervisor`]), and invoked ([`invoker`]).

pub mod invoker;
pub mod reply;
pub mod supervisor;

pub use invoker::{InvokeError, Invoked, Invoker};
pub use reply::Reply;
pub use supervisor::{Handler, stopped};
