//! L4: the stream proxy (TCP relay, SNI routing of TLS passthrough, PROXY
//! protocol) and UDP sessions. Payload is never inspected, except the TLS
//! ClientHello's cleartext fields on SNI listeners.

pub mod peek;
pub mod proxy_protocol;
pub mod relay;
pub mod sni;
pub mod tcp;
pub mod udp;
pub mod udp_sessions;
