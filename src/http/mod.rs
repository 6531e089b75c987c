//! L7: the HTTP/1.1 server side, routing, and forwarding to upstreams.

pub mod body;
pub mod conn;
pub mod framing;
pub mod headers;
pub mod proxy;
pub mod router;
