//! Switchyard: an L4/L7 load balancer.
//!
//! The data flow is `config file → config::load → Config → runtime::Runtime`
//! (compiled, immutable, swapped on reload) read by the listeners in
//! `server`, whose workers serve connections through `http`. See
//! `../shared/DESIGN.md` for the architecture map.

pub mod alloc;
pub mod balance;
pub mod config;
pub mod decap;
pub mod demo;
pub mod error;
pub mod http;
pub mod l4;
pub mod net;
pub mod packet;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod worker;
