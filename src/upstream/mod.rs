//! Upstream side: pools of endpoints with live state, and the per-worker
//! cache of idle upstream connections.

pub mod connect;
pub mod conns;
pub mod endpoint;
pub mod h1;
pub mod h2;
pub mod pool;

pub use conns::{ConnCache, Upstream};
pub use endpoint::{Endpoint, EndpointState, Failure, InFlight, SlotQueue};
pub use pool::{Pick, Pool};
