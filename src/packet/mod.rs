//! The L4 packet engine (issue 5): forwarding packets for virtual IPs
//! without terminating anything, one decision per flow (IPVS, Maglev,
//! Katran). This module holds the pure, sans-io parts: flow keys parsed
//! from raw packets, the connection table in front of Maglev, and the
//! packet rewrites of each forwarding mode (NAT, DSR, IP-in-IP, GRE).

pub mod conntrack;
pub mod engine;
pub mod flow;
pub mod io;
pub mod rewrite;
