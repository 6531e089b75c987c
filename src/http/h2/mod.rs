//! The proxy's own HTTP/2 server: the wire layers (sans-io) and the
//! connection driver that serves HTTP/2 clients without hyper's and the
//! `h2` crate's server.
//!
//! **Why.** On the `h2-tls` benchmark the `h2` crate and hyper's HTTP/2
//! server glue cost about 17 k of Switchyard's 40 k instructions per
//! request (callgrind): a task per stream, a general stream store, and an
//! HPACK encoder that hashes every response header into its dynamic table.
//! HAProxy's whole HTTP/2 mux costs a fraction of that. As with the own
//! HTTP/1.1 paths ([`super::h1`], [`crate::upstream::h1`]), the parts that
//! must be exactly right are sans-io and fuzzed on their own:
//!
//! - [`frame`]: frame parsing and validation (RFC 9113 §4 and §6) and
//!   frame encoding;
//! - [`hpack`]: header compression (RFC 7541), decoder and encoder;
//! - [`conn`]: the server connection state machine (RFC 9113 §5 to §8):
//!   stream states, header blocks and request validation, flow control,
//!   settings, GOAWAY, and the Rapid Reset and CONTINUATION flood
//!   defences.
//!
//! - [`serve`]: the server itself, one task per client connection driving
//!   a [`conn::Connection`] and polling its streams' futures.
//!
//! It serves every HTTP/2 client unless a listener says `h2_server =
//! "hyper"` (then `super::serve_h2` runs hyper's server).

pub mod conn;
pub mod frame;
pub mod hpack;
pub mod serve;
